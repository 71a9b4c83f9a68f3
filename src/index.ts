// The public API of llama3-ts. Everything a user imports comes from here.

export * from "./errors.js";
export type { DType, FloatDType } from "./tensor/dtype.js";
export type { Tensor } from "./tensor/tensor.js";
export { Rng } from "./tensor/rng.js";

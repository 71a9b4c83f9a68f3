// The reference backend: the plain-loop kernels of kernels/reference, bound to the Backend
// interface. Slow and obviously correct; every faster backend is tested against it.

import { attention } from "../kernels/reference/attention.js";
import { addInPlace, rmsNorm, swiglu } from "../kernels/reference/elementwise.js";
import { embed, matmul } from "../kernels/reference/linear.js";
import { rope } from "../kernels/reference/rope.js";
import type { Backend } from "./backend.js";

export const referenceBackend: Backend = {
  name: "reference",
  matmul,
  embed,
  rmsNorm,
  rope,
  attention,
  swiglu,
  addInPlace,
};

// The kernel providers the backend's tests run with: the WebAssembly kernels (what users get) and
// the plain-JavaScript twin of the same ABI (js-kernels.ts), so a failure points at the kernels or at
// the backend's own splitting and placement.

/** A kernel provider module and a name for test titles. */
export interface TestProvider {
  readonly name: string;
  readonly url: URL;
}

export const KERNEL_PROVIDERS: readonly TestProvider[] = [
  { name: "wasm", url: new URL("./wasm-kernels.js", import.meta.url) },
  { name: "js", url: new URL("./js-kernels.js", import.meta.url) },
];

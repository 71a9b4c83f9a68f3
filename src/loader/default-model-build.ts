// Build step (package.json "build"): writes the default model into dist/default-model.

import { defaultModelDir, writeDefaultModel } from "./default-model.js";

await writeDefaultModel();
process.stdout.write(`default model written to ${defaultModelDir()}\n`);

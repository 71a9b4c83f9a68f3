// Public surface of the PyTorch checkpoint reader: open a torch.save file as a TensorSource, check
// a Meta checklist, and (for tests and small files) write torch.save archives.

export { PytorchCheckpoint, openPytorchCheckpoint, SUPPORTED_FORMAT_VERSIONS, MAX_GATHER_SPAN_BYTES, type PytorchCheckpointOptions } from "./checkpoint.js";
export { verifyChecklist, CHECKLIST_FILE_NAME, type ChecklistItem, type ChecklistResult } from "./checklist.js";
export { DEFAULT_PICKLE_LIMITS, type PickleLimits } from "./pickle.js";
export { ALLOWED_GLOBALS } from "./torch-pickle.js";
export type { IgnoredValue, PytorchTensorEntry } from "./state-dict.js";
export { writeTorchSave, pickleStateDict, type StorageSpec, type TensorSpec, type TorchSaveOptions } from "./torch-save-writer.js";

// Chat templates and the built-in Llama 3 / Llama 3.1 chat formats: messages in, prompt text and token
// ids out. Not generation or streaming (src/generate). See apply.ts for the two paths.

export {
  applyChatTemplate,
  chatFormatTakesTools,
  formatChat,
  renderChatTemplate,
  type ApplyChatTemplateOptions,
  type ChatFormatName,
  type ChatPrompt,
  type RenderChatTemplateOptions,
} from "./apply.js";
export type {
  AssistantMessage,
  ChatContent,
  ChatMessage,
  ChatRole,
  ChatTextPart,
  ChatToolCall,
  SystemMessage,
  ToolDefinition,
  ToolResultMessage,
  UserMessage,
} from "./messages.js";
export type { ChatTemplateOptions } from "./options.js";
export type { JsonObject, JsonValue } from "./python-compat.js";
export { MAX_TOOL_REPLY_LENGTH, mayBeToolCall, parseLlama31Reply, type ParsedReply, type ParsedToolCall } from "./llama31-tool-parser.js";
export { ToolCallStream, type ToolStreamEnd } from "./tool-call-stream.js";
export { polyfillToolMessages, splitToolCalls, templateCapabilities, type TemplateCapabilities } from "./template-capabilities.js";
export { PYTHON_TAG, segmentsToIds, segmentsToText, type ChatSegment } from "./segments.js";
export { strftime } from "./strftime.js";
export { ChatTemplateError, type ChatTemplateFailure } from "./template-error.js";
export type { ChatEncodeOptions, ChatTokenizer } from "./tokenizer.js";

/**
 * `@mizan/client/react`: React bindings over the runtime's stores
 * (`useSyncExternalStore`). React 18 or newer.
 */

export { MizanProvider, MizanReactContext, useMizan, type MizanProviderProps } from "./provider.js";
export { useCall, type CallResult } from "./useCall.js";
export { useChannel, type ChannelResult, type UseChannelOptions } from "./useChannel.js";
export { useConnection } from "./useConnection.js";
export { useForm, type FieldBinding, type FieldChangeEvent, type FieldInputProps, type FormResult } from "./useForm.js";
export { useMizanContext, type ContextResult } from "./useMizanContext.js";
export { usePresence, type PresenceResult } from "./usePresence.js";
export type { ContextState } from "../cache.js";
export type { ChannelState, PresenceHandle } from "../channels.js";
export type { PresenceMember } from "../frames.js";
export type { PresenceState, PresenceStats, PresenceStatus } from "../presence.js";
export type { ConnectionState } from "../socket.js";
export type { CallStatus, ChannelStatus, ConnectionStatus, ContextStatus, FormStatus } from "../status.js";
export {
  FormController,
  REQUIRED_MESSAGE,
  type FieldKind,
  type FieldName,
  type FormDefinition,
  type FormErrors,
  type FormFieldSpec,
  type FormOptions,
  type FormSchemaLike,
  type FormState,
  type FormValues,
} from "../form.js";
export { MizanClient, createClient, type CallOptions, type ClientOptions } from "../client.js";
export { MizanError } from "../errors.js";

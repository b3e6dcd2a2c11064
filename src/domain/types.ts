/**
 * The words of CallKeeper and Metrica, in English. Pure types: nothing here does I/O.
 */

/** A call exactly as CallKeeper's `call/get` answers it: loosely typed, fields may be missing. */
export type RawCall = Record<string, unknown>;

export type ServiceType = 'callback' | 'calltracking' | 'import';

/** A call after normalisation: every field present, typed, time in UTC. */
export interface Call {
  /** CallKeeper's `universalId`: ckym's primary key for a call. */
  id: string;
  serviceType: ServiceType | string;
  /** Unix seconds, UTC: `callTime` read in the account's time zone. */
  callTime: number;
  /** The raw `callTime` text, kept for messages. */
  callTimeText: string;
  /** Talk time in seconds (0 when missing or malformed). */
  duration: number;
  status: 'success' | 'fail' | string;
  statusFirst: number;
  statusSecond: number;
  /** `+7…`, or '' when CallKeeper gave no usable number. */
  phone: string;
  site: string;
  siteVisit: string;
  unique: boolean;
  target: boolean;
  uniqueTarget: boolean;
  /** Yandex Metrica ClientID, '' when unknown. */
  clientId: string;
  callPage: string;
  entryPoint: string;
  /** The landing page with its query (may carry a Yandex Direct `yclid=`). */
  entryPointQuery: string;
  recordUrl: string;
  tags: string[];
}

export type CallType = 'all' | 'callback' | 'incoming';
export type StatusSetting = 'all' | 'successful' | 'unsuccessful';
export type Uniqueness = 'all' | 'unique' | 'target' | 'unique-target';

export interface TagSettings {
  /** `call`: the call's own tags (only those in `include` when it is non-empty); `none`: no tags. */
  source: 'call' | 'none';
  include: string[];
  /** Fixed tag text for callbacks; '' = use `source`. */
  callback: string;
  /** Fixed tag text for incoming (call tracking) calls; '' = use `source`. */
  incoming: string;
}

/** One counter's settings, as in the config file after defaults are applied. */
export interface CounterSettings {
  id: number;
  name: string;
  enabled: boolean;
  callType: CallType;
  minDuration: number;
  status: StatusSetting;
  uniqueness: Uniqueness;
  tags: TagSettings;
  /** JS-event goal identifier for offline conversions; '' = no conversions. */
  goal: string;
  /** `new_goal_name` for Metrica's automatic call goal; '' = not sent. */
  callGoalName: string;
  /** Host names; empty = any site. */
  sites: string[];
  price: number | null;
  currency: string;
  /** Which identifiers a row may carry, in order of preference (the first the call has is used). */
  identifiers: IdentifierType[];
}

/**
 * How an uploaded row names the visitor: Metrica's ClientID (`yaClid`), or Yandex Direct's click id (`yclid=` in the
 * landing URL). One identifier type per file (`client_id_type` CLIENT_ID / YCLID).
 */
export type IdentifierType = 'clientId' | 'yclid';

/** Why a counter does not take a call: the first setting that stopped it. */
export type SkipReason =
  | 'call-type'
  | 'min-duration'
  | 'status'
  | 'uniqueness'
  | 'site'
  /** conversion kind only: the call has no ClientID, so it cannot be linked to a goal. */
  | 'no-client-id'
  /** `sync --adopt`: the call is at or before the newest call ckym's earlier uploads to the counter hold (Metrica's list). */
  | 'adopted';

/** Why a row ckym would send is kept aside instead: Metrica would refuse (or silently drop) it. */
export type MalformedReason =
  | 'datetime-before-2000'
  | 'datetime-outside-window'
  | 'datetime-in-future'
  | 'client-id-malformed'
  | 'yclid-malformed';

/** Why a call is not final yet. */
/** Why a call is not final yet: a callback in progress (1/0), scheduled (2/0) or awaiting a status update (707/0), its settle time, or a date after now. */
export type WaitReason = 'in-progress' | 'scheduled' | 'awaiting-status' | 'settling' | 'future';

/** `waitedOut`: final only because it waited `sync.maxWaitHours` while still in this wait — decided as it stands. */
export type Finality = { final: true; waitedOut?: WaitReason } | { final: false; reason: WaitReason };

/** `call` goes through upload_calls; `conversion` through upload with Target. */
export type DeliveryKind = 'call' | 'conversion';

export type Decision = { take: true } | { take: false; reason: SkipReason };

/** Column order of an upload_calls CSV. Price and Currency only when the counter sets a price. */
export const CALL_COLUMNS = [
  'ClientId',
  'DateTime',
  'StaticCall',
  'PhoneNumber',
  'TalkDuration',
  'CallMissed',
  'FirstTimeCaller',
  'Tag',
  'URL',
  'CallTrackerURL',
] as const;

export const CONVERSION_COLUMNS = ['ClientId', 'Target', 'DateTime'] as const;

export const PRICE_COLUMNS = ['Price', 'Currency'] as const;

/** A CSV row as the list of cell texts, in the order of its header. */
export type Row = string[];

// The SecretSync's status conditions, with upstream's types, reasons and messages, set with the
// semantics of apimachinery's meta.SetStatusCondition: a condition's lastTransitionTime changes only
// when its status does; its reason and message are overwritten every time; a new type is appended.
import type { Condition, ConditionStatus } from '../api/secret-sync';

export const SECRET_CREATED = 'SecretCreated';
export const SECRET_UPDATED = 'SecretUpdated';
export type ConditionType = typeof SECRET_CREATED | typeof SECRET_UPDATED;

/** The reasons of a failed sync; each one is also the label of metrics and logs. */
export const FAILURE_REASONS = [
  'InvalidClusterSecretLabelError',
  'InvalidClusterSecretAnnotationError',
  'SecretProviderClassMisconfigured',
  'ProviderError',
  'RemoteSecretStoreFetchFailed',
  'ControllerPatchError',
  'ControllerSyncError',
] as const;
export type FailureReason = (typeof FAILURE_REASONS)[number];

const FAILURE_REASON_SET: ReadonlySet<string> = new Set(FAILURE_REASONS);

/** A condition whose reason makes upstream retry even when the hash is unchanged. */
export function isFailureCondition(condition: Pick<Condition, 'reason'>): boolean {
  return FAILURE_REASON_SET.has(condition.reason);
}

export interface ConditionChange {
  type: ConditionType;
  status: ConditionStatus;
  reason: string;
  message: string;
}

export const INITIAL_CONDITIONS: readonly ConditionChange[] = [
  { type: SECRET_CREATED, status: 'Unknown', reason: 'SyncStarting', message: '' },
  { type: SECRET_UPDATED, status: 'Unknown', reason: 'NoUpdatesAttemptedYet', message: '' },
];

export const CREATED: ConditionChange = {
  type: SECRET_CREATED,
  status: 'True',
  reason: 'CreateSuccessful',
  message: 'Secret created successfully.',
};

export const UP_TO_DATE: ConditionChange = {
  type: SECRET_UPDATED,
  status: 'True',
  reason: 'SecretUpToDate',
  message: 'Secret contains last observed values.',
};

export function failed(type: ConditionType, reason: FailureReason, message: string): ConditionChange {
  return { type, status: 'False', reason, message };
}

/** metav1.Time: RFC 3339 in UTC with whole seconds. */
export function kubeTime(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

/** meta.SetStatusCondition on a copy; returns the new list. */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  change: ConditionChange,
  nowMs: number,
): Condition[] {
  const list = (conditions ?? []).map((c) => ({ ...c }));
  const existing = list.find((c) => c.type === change.type);
  if (!existing) {
    list.push({
      type: change.type,
      status: change.status,
      lastTransitionTime: kubeTime(nowMs),
      reason: change.reason,
      message: change.message,
    });
    return list;
  }
  if (existing.status !== change.status) {
    existing.status = change.status;
    existing.lastTransitionTime = kubeTime(nowMs);
  }
  existing.reason = change.reason;
  existing.message = change.message;
  // Upstream's conditions carry no observedGeneration, which SetStatusCondition copies: 0, omitted.
  delete existing.observedGeneration;
  return list;
}

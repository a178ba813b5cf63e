import type { Condition } from '../api/secret-sync';
import {
  CREATED,
  failed,
  INITIAL_CONDITIONS,
  isFailureCondition,
  kubeTime,
  setCondition,
  UP_TO_DATE,
} from './conditions';

const T1 = Date.parse('2030-01-02T03:04:05.678Z');
const T2 = T1 + 60_000;

describe('conditions', () => {
  it('writes times as metav1.Time: RFC 3339, UTC, whole seconds', () => {
    expect(kubeTime(T1)).toBe('2030-01-02T03:04:05Z');
  });

  it("starts with upstream's two Unknown conditions, in order", () => {
    const list = INITIAL_CONDITIONS.reduce<Condition[]>((l, c) => setCondition(l, c, T1), []);
    expect(list).toEqual([
      {
        type: 'SecretCreated',
        status: 'Unknown',
        lastTransitionTime: '2030-01-02T03:04:05Z',
        reason: 'SyncStarting',
        message: '',
      },
      {
        type: 'SecretUpdated',
        status: 'Unknown',
        lastTransitionTime: '2030-01-02T03:04:05Z',
        reason: 'NoUpdatesAttemptedYet',
        message: '',
      },
    ]);
  });

  it('moves lastTransitionTime only when the status changes, and overwrites reason and message', () => {
    let list = INITIAL_CONDITIONS.reduce<Condition[]>((l, c) => setCondition(l, c, T1), []);
    list = setCondition(list, failed('SecretCreated', 'ProviderError', 'down'), T2);
    expect(list[0]).toMatchObject({
      status: 'False',
      reason: 'ProviderError',
      message: 'down',
      lastTransitionTime: kubeTime(T2),
    });
    list = setCondition(list, failed('SecretCreated', 'ControllerPatchError', 'refused'), T2 + 60_000);
    expect(list[0]).toMatchObject({
      status: 'False',
      reason: 'ControllerPatchError',
      message: 'refused',
      lastTransitionTime: kubeTime(T2),
    });
    list = setCondition(list, CREATED, T2 + 120_000);
    expect(list[0]).toMatchObject({
      status: 'True',
      reason: 'CreateSuccessful',
      message: 'Secret created successfully.',
      lastTransitionTime: kubeTime(T2 + 120_000),
    });
    // The other condition is untouched.
    expect(list[1]).toMatchObject({ status: 'Unknown', lastTransitionTime: kubeTime(T1) });
  });

  it('appends a new type, leaves the list given alone, and drops an observedGeneration', () => {
    const given: Condition[] = [
      {
        type: 'SecretUpdated',
        status: 'True',
        observedGeneration: 3,
        lastTransitionTime: 'x',
        reason: 'SecretUpToDate',
        message: 'm',
      },
    ];
    const list = setCondition(given, UP_TO_DATE, T1);
    expect(list[0]).not.toHaveProperty('observedGeneration');
    expect(given[0]?.observedGeneration).toBe(3);
    expect(setCondition(given, CREATED, T1).map((c) => c.type)).toEqual(['SecretUpdated', 'SecretCreated']);
  });

  it('knows the reasons that make upstream retry', () => {
    for (const reason of [
      'SecretProviderClassMisconfigured',
      'ProviderError',
      'ControllerPatchError',
      'ControllerSyncError',
      'RemoteSecretStoreFetchFailed',
      'InvalidClusterSecretLabelError',
      'InvalidClusterSecretAnnotationError',
    ])
      expect(isFailureCondition({ reason })).toBe(true);
    for (const reason of ['CreateSuccessful', 'SecretUpToDate', 'SyncStarting', 'NoUpdatesAttemptedYet'])
      expect(isFailureCondition({ reason })).toBe(false);
  });
});

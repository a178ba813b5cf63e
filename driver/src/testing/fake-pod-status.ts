// For unit tests: SecretProviderClassPodStatuses kept in memory; the versions read back are the
// last recorded. kube/pod-status.test.ts tests the real store against FakeKube.
import type { SecretProviderClassObject } from '@sscsi/common';

import type { PodStatusInput, PodStatusStore } from '../kube/pod-status';

export class FakePodStatus implements PodStatusStore {
  records: PodStatusInput[] = [];

  async record(input: PodStatusInput): Promise<void> {
    this.records.push(input);
  }

  async objects(): Promise<SecretProviderClassObject[] | undefined> {
    return this.records.at(-1)?.objects.slice();
  }
}

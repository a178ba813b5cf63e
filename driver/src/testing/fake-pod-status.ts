// For unit tests: the pod status store as a list of what was recorded; the object versions read
// back are the last record's. kube/pod-status.test.ts tests the real store against FakeKube.
import type { SecretProviderClassObject } from '@sscsi/common';

import type { PodStatusInput, PodStatusStore } from '../kube/pod-status';

export class FakePodStatusStore implements PodStatusStore {
  records: PodStatusInput[] = [];
  async record(input: PodStatusInput) {
    this.records.push(input);
  }
  async objects(): Promise<SecretProviderClassObject[] | undefined> {
    return this.records.at(-1)?.objects.slice();
  }
}

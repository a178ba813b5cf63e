// For unit tests: a provider behind the driver's ProviderGateway that answers one object,
// `MyDBSecret`, at the version and with the value the test sets; it can fail or hold its answer.
import type { MountResponse__Output } from '@sscsi/proto';

import type { MountCall, ProviderGateway } from '../provider/provider-clients';

export class FakeProvider implements ProviderGateway {
  calls: MountCall[] = [];
  version = '1';
  value = 'secret-v1';
  mode = 0o644;
  failure?: Error;
  /** When set, a Mount waits for it (an operation still running on the volume). */
  hold?: Promise<void>;
  async mount(_provider: string, call: MountCall): Promise<MountResponse__Output> {
    this.calls.push(call);
    if (this.hold) await this.hold;
    if (this.failure) throw this.failure;
    return {
      objectVersion: [{ id: 'MyDBSecret', version: this.version }],
      files: [{ path: 'MyDBSecret', mode: this.mode, contents: Buffer.from(this.value) }],
      error: null,
    };
  }
}

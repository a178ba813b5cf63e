// For unit tests: a provider behind the ProviderGateway that serves one secret, MyDBSecret, whose
// version and value the test changes; it can fail, or hold a Mount until the test lets it go.
import type { MountCall, MountedContent, ProviderGateway } from '@sscsi/common';

export class FakeProvider implements ProviderGateway {
  calls: MountCall[] = [];
  version = '1';
  value = 'secret-v1';
  mode = 0o644;
  /** When set, the provider answers no files: it wrote them itself. */
  writesFilesItself = false;
  failure?: Error;
  /** When set, a Mount waits for it (an operation still running on the volume). */
  hold?: Promise<void>;

  async mount(_provider: string, call: MountCall): Promise<MountedContent> {
    this.calls.push(call);
    if (this.hold) await this.hold;
    if (this.failure) throw this.failure;
    return {
      objects: [{ id: 'MyDBSecret', version: this.version }],
      files: this.writesFilesItself
        ? []
        : [{ path: 'MyDBSecret', mode: this.mode, contents: Buffer.from(this.value) }],
    };
  }
}

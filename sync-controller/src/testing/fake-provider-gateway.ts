// For unit tests: providers behind the ProviderGateway interface. Each answers from a function of
// the request (files and versions, or a ProviderCallError as the real client throws); every call is
// recorded with its parsed attributes; calls may be held until the test lets them go.
import type { MountCall, MountedContent, PayloadFile, ProviderGateway } from '@sscsi/common';
import { ProviderCallError } from '@sscsi/common';

export interface RecordedMount {
  provider: string;
  call: MountCall;
  attributes: Record<string, string>;
  deadline: Date;
}

export type MountBehaviour = (attributes: Record<string, string>, provider: string) => MountedContent;

/** An answer with these files (contents as text) and one object version. */
export function answer(files: Record<string, string | Buffer>): MountedContent {
  return {
    objects: [{ id: 'secret/object', version: 'v1' }],
    files: Object.entries(files).map(([path, contents]): PayloadFile => ({
      path,
      mode: 0o644,
      contents: typeof contents === 'string' ? Buffer.from(contents) : contents,
    })),
  };
}

export class FakeProviderGateway implements ProviderGateway {
  readonly calls: RecordedMount[] = [];
  /** Providers by name; a name without one is not found, as a missing socket. */
  readonly behaviours = new Map<string, MountBehaviour>();
  /** While set, calls wait for it. */
  gate?: Promise<void>;

  constructor(behaviours: Record<string, MountBehaviour> = {}) {
    for (const [name, behaviour] of Object.entries(behaviours)) this.behaviours.set(name, behaviour);
  }

  async mount(
    provider: string,
    call: MountCall,
    deadline: Date,
    signal?: AbortSignal,
  ): Promise<MountedContent> {
    const attributes = JSON.parse(call.attributes) as Record<string, string>;
    this.calls.push({ provider, call, attributes, deadline });
    await this.gate;
    signal?.throwIfAborted();
    const behaviour = this.behaviours.get(provider);
    if (!behaviour)
      throw new ProviderCallError('ProviderNotFound', `provider "${provider}" not found`, { provider });
    const content = behaviour(attributes, provider);
    return {
      objects: content.objects.map((o) => ({ ...o })),
      files: content.files.map((f) => ({ ...f, contents: Buffer.from(f.contents) })),
    };
  }

  /** Holds every call until the returned function is called. */
  hold(): () => void {
    let release: () => void = () => undefined;
    this.gate = new Promise<void>((resolve) => (release = resolve));
    return () => {
      this.gate = undefined;
      release();
    };
  }

  callsTo(provider: string): number {
    return this.calls.filter((c) => c.provider === provider).length;
  }
}

// SecretProviderClass lookups for publishes, answered from an informer's memory; only a class the
// informer has not seen yet (created a moment ago) costs an API request.
import type { KubeApi, Logger, SecretProviderClass } from '@sscsi/common';
import { Informer, isNotFound, Resources, resourcePath } from '@sscsi/common';

export interface SecretProviderClassSource {
  /** The class `name` in `namespace`, or undefined when there is none. */
  get(namespace: string, name: string, signal?: AbortSignal): Promise<SecretProviderClass | undefined>;
}

export class SecretProviderClassCache implements SecretProviderClassSource {
  private readonly informer: Informer<SecretProviderClass>;

  constructor(
    private readonly client: Pick<KubeApi, 'get' | 'watch'>,
    logger: Logger,
  ) {
    this.informer = new Informer<SecretProviderClass>(client, Resources.secretProviderClasses, {
      onError: (err) =>
        logger.warn({ err: (err as Error).message }, 'SecretProviderClass watch failed; retrying'),
    });
  }

  start(): void {
    this.informer.start();
  }

  /** Calls `handler` for every class seen or changed (the sync controller re-reads secretObjects). */
  onChange(handler: (spc: SecretProviderClass) => void): void {
    this.informer.addHandlers({ added: handler, updated: handler });
  }

  waitForSync(signal?: AbortSignal): Promise<void> {
    return this.informer.waitForSync(signal);
  }

  stop(): Promise<void> {
    return this.informer.stop();
  }

  async get(namespace: string, name: string, signal?: AbortSignal): Promise<SecretProviderClass | undefined> {
    const cached = this.informer.get(namespace, name);
    if (cached) return cached;
    try {
      return await this.client.get<SecretProviderClass>(
        resourcePath(Resources.secretProviderClasses, namespace, name),
        { signal },
      );
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }
}

// EKS Pod Identity: the node's agent exchanges the pod's token (audience pods.eks.amazonaws.com)
// for credentials. In auto mode a connection failure on IPv4 falls back to IPv6 (upstream never
// falls back); an answer from the agent, even a refusal, is final.
import http from 'node:http';
import https from 'node:https';

import { MountError } from '../errors';
import type { AddressType } from '../parameters/mount-request';
import type { AwsCredentials } from './credential-cache';

export interface PodIdentityAgentOptions {
  ipv4Url: string;
  ipv6Url: string;
  timeoutMs: number;
}

interface AgentAnswer {
  AccessKeyId?: string;
  SecretAccessKey?: string;
  Token?: string;
  Expiration?: string;
}

class AgentUnreachable extends Error {}

/** The agent's answer, one line and short, for an error: without the token, should it echo one. */
function quoted(body: string, token: string): string {
  return body
    .split(token)
    .join('<token>')
    .replace(/eyJ[\w-]*\.[\w-]*\.[\w-]*/g, '<token>')
    .replace(/\s+/g, ' ')
    .slice(0, 200);
}

export class PodIdentityAgent {
  constructor(private readonly o: PodIdentityAgentOptions) {}

  async credentials(token: string, addressType: AddressType, signal?: AbortSignal): Promise<AwsCredentials> {
    const urls =
      addressType === 'ipv4'
        ? [this.o.ipv4Url]
        : addressType === 'ipv6'
          ? [this.o.ipv6Url]
          : [this.o.ipv4Url, this.o.ipv6Url];
    const failures: string[] = [];
    for (const url of urls) {
      try {
        return await this.ask(url, token, signal);
      } catch (err) {
        if (!(err instanceof AgentUnreachable)) throw err;
        failures.push(`${url}: ${err.message}`);
      }
    }
    throw new MountError(
      'CredentialsError',
      `the EKS Pod Identity agent is unreachable (${failures.join('; ')}); is the eks-pod-identity-agent add-on installed on this node?`,
    );
  }

  /** One GET to the agent, with node:http (fetch needs WebAssembly, which --lite-mode turns off). */
  private get(url: string, token: string, signal?: AbortSignal): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const transport = url.startsWith('https:') ? https : http;
      const req = transport.get(
        url,
        { headers: { Authorization: token }, signal, timeout: this.o.timeoutMs },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
          );
          res.on('error', (err) => reject(new AgentUnreachable(err.message)));
        },
      );
      req.on('timeout', () => req.destroy(new AgentUnreachable(`no answer within ${this.o.timeoutMs} ms`)));
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (signal?.aborted || err instanceof AgentUnreachable) reject(err);
        else reject(new AgentUnreachable(err.code ?? err.message));
      });
    });
  }

  private async ask(url: string, token: string, signal?: AbortSignal): Promise<AwsCredentials> {
    const { status, body } = await this.get(url, token, signal);
    if (status < 200 || status >= 300) {
      throw new MountError(
        'CredentialsError',
        `the EKS Pod Identity agent refused the pod's token: HTTP ${status} ${quoted(body, token)} (is there a pod identity association for this ServiceAccount?)`,
      );
    }
    let answer: AgentAnswer;
    try {
      answer = JSON.parse(body) as AgentAnswer;
    } catch {
      throw new MountError('CredentialsError', 'the EKS Pod Identity agent sent an answer that is not JSON');
    }
    if (!answer.AccessKeyId || !answer.SecretAccessKey) {
      throw new MountError('CredentialsError', 'the EKS Pod Identity agent sent no credentials');
    }
    return {
      accessKeyId: answer.AccessKeyId,
      secretAccessKey: answer.SecretAccessKey,
      sessionToken: answer.Token,
      expiration: answer.Expiration ? new Date(answer.Expiration) : undefined,
    };
  }
}

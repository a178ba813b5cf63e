// Where moto's answer differs from what AWS answers, the gate answers as AWS. Only what a test of
// ours depends on, each with the AWS behaviour it restores:
// - a secret scheduled for deletion (DeleteSecret with a recovery window): AWS refuses its value
//   with InvalidRequestException "You can't perform this operation on the secret because it was
//   marked for deletion."; moto with the same code and a message of its own, which clients that
//   tell this case apart by AWS's words (an optional object) would not recognise.
import type { AwsRequest } from './aws-request';
import type { UpstreamAnswer } from './upstream';

export const SCHEDULED_FOR_DELETION_MESSAGE =
  "You can't perform this operation on the secret because it was marked for deletion.";

const MOTO_MARKED_DELETED = /currently\s+marked\s+deleted/;

/** `answer` as AWS would give it to `request`. */
export function asAwsAnswers(request: Pick<AwsRequest, 'service'>, answer: UpstreamAnswer): UpstreamAnswer {
  if (request.service !== 'secretsmanager' || answer.status < 400) return answer;
  let body: { __type?: unknown; message?: unknown; Message?: unknown };
  try {
    body = JSON.parse(answer.body.toString('utf8')) as typeof body;
  } catch {
    return answer;
  }
  const type = typeof body.__type === 'string' ? body.__type.split('#').at(-1) : undefined;
  const message = String(body.message ?? body.Message ?? '');
  if (type !== 'InvalidRequestException' || !MOTO_MARKED_DELETED.test(message)) return answer;
  return {
    ...answer,
    body: Buffer.from(
      JSON.stringify({ __type: 'InvalidRequestException', message: SCHEDULED_FOR_DELETION_MESSAGE }),
    ),
  };
}

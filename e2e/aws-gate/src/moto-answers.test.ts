import { asAwsAnswers, SCHEDULED_FOR_DELETION_MESSAGE } from './moto-answers';

const answer = (status: number, body: object | string) => ({
  status,
  headers: { 'content-type': 'application/x-amz-json-1.1' },
  body: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)),
});
const bodyOf = (a: { body: Buffer }) => JSON.parse(a.body.toString('utf8')) as Record<string, string>;

describe("moto's answers, as AWS gives them", () => {
  it("gives a secret scheduled for deletion AWS's InvalidRequestException message", () => {
    // moto 5.2's words for GetSecretValue, with the spaces of its line continuation.
    const moto = answer(400, {
      __type: 'InvalidRequestException',
      message:
        "An error occurred (InvalidRequestException) when calling the GetSecretValue operation: You tried to                 perform the operation on a secret that's currently marked deleted.",
    });
    const aws = asAwsAnswers({ service: 'secretsmanager' }, moto);
    expect(aws.status).toBe(400);
    expect(bodyOf(aws)).toEqual({
      __type: 'InvalidRequestException',
      message: SCHEDULED_FOR_DELETION_MESSAGE,
    });
  });

  it('leaves every other answer as moto gave it', () => {
    const others = [
      [
        { service: 'secretsmanager' },
        answer(400, {
          __type: 'ResourceNotFoundException',
          message: "Secrets Manager can't find the specified secret.",
        }),
      ],
      [
        { service: 'secretsmanager' },
        answer(400, { __type: 'InvalidRequestException', message: 'rotation is not configured' }),
      ],
      [{ service: 'secretsmanager' }, answer(200, { message: 'currently marked deleted' })],
      [{ service: 'secretsmanager' }, answer(400, 'not json')],
      [
        { service: 'ssm' },
        answer(400, { __type: 'InvalidRequestException', message: 'currently marked deleted' }),
      ],
    ] as const;
    for (const [request, moto] of others) expect(asAwsAnswers(request, moto)).toBe(moto);
  });
});

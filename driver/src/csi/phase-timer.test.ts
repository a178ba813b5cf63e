import { PhaseTimer } from './phase-timer';

describe('PhaseTimer', () => {
  it('gives each phase the time since the previous one, and the total in seconds', () => {
    let now = 1000;
    const timer = new PhaseTimer(() => now);
    now += 12.34;
    timer.lap('lookupMs');
    now += 250;
    timer.lap('providerMs');
    now += 0.04;
    expect(timer.phases()).toEqual({ lookupMs: 12.3, providerMs: 250 });
    expect(timer.seconds()).toBeCloseTo(0.26238, 5);
  });
});

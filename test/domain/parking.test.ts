// What a parking space's display shows after its sensor reports.
import { describe, expect, it } from 'vitest';
import { displayedState, sensorStateOf, spaceStates } from '#domain/parking';

describe('a parking space displayed state', () => {
  it('follows the sensor for a free or occupied space', () => {
    expect(displayedState('FREE', true)).toBe('OCCUPIED');
    expect(displayedState('OCCUPIED', false)).toBe('FREE');
    expect(displayedState(null, true)).toBe('OCCUPIED');
  });

  it('keeps a reserved or maintained space as it is, whatever the sensor says', () => {
    for (const occupied of [true, false]) {
      expect(displayedState('RESERVED', occupied)).toBe('RESERVED');
      expect(displayedState('MAINTENANCE', occupied)).toBe('MAINTENANCE');
    }
  });

  it('always shows one of the space states', () => {
    for (const current of [null, ...spaceStates]) {
      for (const occupied of [true, false]) expect(spaceStates).toContain(displayedState(current, occupied));
    }
  });

  it('names the sensor state the way the space row stores it', () => {
    expect([sensorStateOf(true), sensorStateOf(false)]).toEqual(['occupied', 'free']);
  });
});

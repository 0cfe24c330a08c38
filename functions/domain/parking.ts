// Parking spaces: what a space's display shows. The sensor only says free or occupied; a space that is
// reserved or under maintenance keeps showing that, whatever the sensor says.

export const spaceStates = ['FREE', 'OCCUPIED', 'RESERVED', 'MAINTENANCE'] as const;
export type SpaceState = (typeof spaceStates)[number];

/** What the space's sensor last reported (parking_spaces.sensor_state). */
export type SensorState = 'occupied' | 'free';

export const sensorStateOf = (occupied: boolean): SensorState => (occupied ? 'occupied' : 'free');

/**
 * The displayed state once the sensor reports `occupied`, given the state displayed now (null for a
 * space that never had one). States set by operators (RESERVED, MAINTENANCE) are not the sensor's to change.
 */
export function displayedState(current: string | null, occupied: boolean): string {
  if (current === 'RESERVED' || current === 'MAINTENANCE') return current;
  return occupied ? 'OCCUPIED' : 'FREE';
}

/** What a space shows when nobody holds it: what its sensor last said (FREE when it never said). */
export function restingState(sensorState: string | null): SpaceState {
  return sensorState === 'occupied' ? 'OCCUPIED' : 'FREE';
}

/**
 * What a space shows once an operator's hold ends (an override released, maintenance over): RESERVED if
 * a reservation's window is open, else what its sensor says.
 */
export function releasedState(sensorState: string | null, reservationActive: boolean): SpaceState {
  return reservationActive ? 'RESERVED' : restingState(sensorState);
}

/** Do [aFrom, aTo) and [bFrom, bTo) share an instant? (Back-to-back windows do not.) */
export const windowsOverlap = (aFrom: Date, aTo: Date, bFrom: Date, bTo: Date): boolean => aFrom < bTo && bFrom < aTo;

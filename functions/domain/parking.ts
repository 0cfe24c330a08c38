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

/**
 * The published contract of the change and fleet events on the bus: zod schemas that the tests check
 * every published event against, and that `npm run docs:schemas` turns into the JSON Schemas
 * under docs/events/ for consumers.
 */
import { z } from "zod";
import { STATUS_FIELDS } from "./device-state.js";
import { EVSE_ID_PATTERN } from "./evse.js";
import { FLEET_DEGRADED, FLEET_RESTORED } from "./fleet-alert.js";

const isoTime = z.iso.datetime({ offset: true });

export const DeviceStateSchema = z
  .object({
    evseId: z.string().regex(EVSE_ID_PATTERN),
    cpid: z.string().nullable(),
    lockMode: z.enum(["UNLOCKED", "SMART", "LOCKED"]).nullable(),
    isPluggedIn: z.boolean().nullable(),
    isCharging: z.boolean().nullable(),
    chargeRateWatts: z.number().int().nullable(),
    exportPowerWatts: z.number().int().nullable(),
    sampledAt: isoTime.nullable(),
    connectivity: z.enum(["online", "offline", "unknown"]),
    lifecycle: z.enum(["active", "removed", "decommissioned"]),
    firstSeenAt: isoTime,
    lastChangedAt: isoTime,
    lastSeenAt: isoTime,
    version: z.number().int().positive(),
  })
  .meta({ title: "EVSE state", description: "The last-seen state of one EVSE." });

const common = {
  eventId: z
    .string()
    .regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
    .meta({ description: "Derived from the change, stable across re-publishing: dedupe on it." }),
  evseId: DeviceStateSchema.shape.evseId,
  cpid: z.string().nullable(),
  current: DeviceStateSchema,
  sampledAt: isoTime.nullable(),
  detectedAt: isoTime,
  observedBy: z.enum(["poll", "webhook"]).meta({
    description:
      "Which path saw the change first: the scheduled poll, or a webhook's refresh of the device. Not part of the event id.",
  }),
};

const FieldChangeSchema = z.object({
  field: z.enum(STATUS_FIELDS),
  previous: z.unknown(),
  current: z.unknown(),
});

export const CHANGE_EVENT_SCHEMAS = {
  "EVSE Discovered": z
    .object({ ...common, previous: DeviceStateSchema.nullable() })
    .strict()
    .meta({ description: "First seen, or seen again after it was removed." }),
  "EVSE Status Changed": z
    .object({
      ...common,
      previous: DeviceStateSchema,
      changedFields: z.array(FieldChangeSchema).min(1),
    })
    .strict()
    .meta({ description: "Lock mode, plug, charging, charge rate or export power changed." }),
  "EVSE Connectivity Changed": z
    .object({ ...common, previous: DeviceStateSchema })
    .strict()
    .meta({ description: "Online, offline or unknown, from the age of the latest sample." }),
  "EVSE Removed": z
    .object({ ...common, previous: DeviceStateSchema })
    .strict()
    .meta({ description: "A complete sweep no longer listed the EVSE." }),
} as const;

const fleetWindow = z
  .object({ from: isoTime, to: isoTime })
  .strict()
  .meta({ description: "The time the counts cover." });

/** The fleet-wide events: one each way per episode, whatever the number of devices. */
export const FLEET_EVENT_SCHEMAS = {
  [FLEET_DEGRADED]: z
    .object({
      eventId: common.eventId,
      detectedAt: isoTime,
      sweepId: z.string().min(1).meta({ description: "The sweep that crossed the threshold." }),
      newlyOffline: z
        .number()
        .int()
        .nonnegative()
        .meta({ description: "Devices this sweep found newly offline so far." }),
      activeFleet: z
        .number()
        .int()
        .positive()
        .meta({ description: "Active devices of the last complete sweep." }),
      thresholdShare: z.number().gt(0).lte(1),
      threshold: z
        .number()
        .int()
        .positive()
        .meta({ description: "thresholdShare of activeFleet, rounded up: the count crossed." }),
      devicesRead: z.number().int().nonnegative(),
      baselineOffline: z
        .number()
        .int()
        .nonnegative()
        .meta({ description: "Devices offline in the last complete sweep." }),
      window: fleetWindow,
    })
    .strict()
    .meta({
      description:
        "A large share of the fleet went offline within one sweep: one upstream problem, one event. Per-device events are published as usual.",
    }),
  [FLEET_RESTORED]: z
    .object({
      eventId: common.eventId,
      detectedAt: isoTime,
      sweepId: z.string().min(1).meta({ description: "The complete sweep that found it back." }),
      degradedSweepId: z.string().min(1),
      degradedAt: isoTime,
      offline: z.number().int().nonnegative(),
      baselineOffline: z.number().int().nonnegative(),
      activeFleet: z.number().int().nonnegative(),
      window: fleetWindow,
    })
    .strict()
    .meta({
      description:
        "A complete sweep found the offline count back within half the threshold of what it was before the degradation.",
    }),
} as const;

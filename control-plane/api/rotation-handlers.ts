import type { ServerUnaryCall } from '@grpc/grpc-js';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import type { AdminServer, sigil } from '../../proto/index.ts';
import type { CaCertificateSummary, CaRotation, CaRotationStatus } from '../ca-rotation.ts';
import type { RotationOrderService, RotationOrderView } from '../rotation/rotation-orders.ts';
import { certificateMessage } from './certificate-message.ts';
import { unary, type UnaryEdgeDeps } from './unary.ts';
import type { RotationStep } from '../ca/rotation-schedule.ts';
import type { GenerationKeyLocations } from '../ca/key-locations.ts';

export interface RotationHandlerDeps extends UnaryEdgeDeps {
  readonly orders: RotationOrderService;
  readonly caRotation: CaRotation;
  /** The automatic schedule's next step, when it runs. */
  readonly scheduled?: () => Promise<RotationStep>;
  /** Checks the caller is an admin (throws otherwise). */
  readonly guard: (call: ServerUnaryCall<unknown, unknown>) => Promise<void>;
}

function orderMessage(view: RotationOrderView): sigil.v1.IRotationStatus {
  const { order } = view;
  return {
    orderId: order.orderId,
    targetKind: order.targetKind,
    target: order.target,
    windowMs: order.windowMs,
    createdAtUnixMs: order.createdAt,
    reason: order.reason,
    targets: [...view.targets],
    rotated: [...view.rotated],
    pending: [...view.pending],
    failed: [...view.failed],
  };
}

function certSummary(c: CaCertificateSummary): sigil.v1.ICaCertificateSummary {
  return { serial: c.serial, subject: c.subject, notBeforeUnixMs: c.notBefore, notAfterUnixMs: c.notAfter };
}

export function caStatusMessage(s: CaRotationStatus, scheduled: RotationStep = { step: 'none' }): sigil.v1.ICaStatus {
  const generation = (g: {
    root: CaCertificateSummary;
    intermediate: CaCertificateSummary;
    rootKeyOnline?: boolean;
    keys?: GenerationKeyLocations;
  }) => ({
    root: certSummary(g.root),
    intermediate: certSummary(g.intermediate),
    rootKeyOnline: g.rootKeyOnline ?? false,
    ...(g.keys ? { rootKey: g.keys.root, intermediateKey: g.keys.intermediate } : {}),
  });
  return {
    trustDomain: s.trustDomain,
    phase: s.phase,
    current: generation(s.current),
    ...(s.next ? { next: generation(s.next) } : {}),
    ...(s.previous ? { previous: generation(s.previous) } : {}),
    bundle: s.bundle.map(certSummary),
    bundleSequence: s.bundleSequence,
    intermediateOnly: s.intermediateOnly,
    ...(scheduled.step === 'none'
      ? {}
      : { scheduledStep: scheduled.step, scheduledAtUnixMs: Math.round(scheduled.at) }),
  };
}

/** Admin RPCs of rotation orders and staged CA rotation. */
export function rotationHandlers(
  deps: RotationHandlerDeps,
): Pick<AdminServer, 'rotate' | 'getRotationStatus' | 'showCa' | 'rotateCa'> {
  return {
    rotate: unary('Rotate', deps, async (request: sigil.v1.RotateRequest, call) => {
      await deps.guard(call);
      const view = await deps.orders.order(
        { spiffeId: request.spiffeId, prefix: request.prefix, all: request.all, windowMs: Number(request.windowMs) },
        'operator',
      );
      return orderMessage(view);
    }),
    getRotationStatus: unary('GetRotationStatus', deps, async (request: sigil.v1.GetRotationStatusRequest, call) => {
      await deps.guard(call);
      return orderMessage(await deps.orders.status(request.orderId || undefined));
    }),
    showCa: unary('ShowCa', deps, async (_request: sigil.v1.ShowCaRequest, call) => {
      await deps.guard(call);
      return caStatusMessage(await deps.caRotation.status(), await deps.scheduled?.());
    }),
    rotateCa: unary('RotateCa', deps, async (request: sigil.v1.RotateCaRequest, call) => {
      await deps.guard(call);
      switch (request.step) {
        case 'prepare': {
          const r = await deps.caRotation.prepare({
            intermediateOnly: request.intermediateOnly,
            ...(request.rootKeyPem ? { rootKeyPem: request.rootKeyPem } : {}),
          });
          return { status: caStatusMessage(r.status, await deps.scheduled?.()), newRootKeyPem: r.newRootKeyPem ?? '' };
        }
        case 'activate': {
          const r = await deps.caRotation.activate({ windowMs: Number(request.windowMs), force: request.force });
          return { status: caStatusMessage(r.status, await deps.scheduled?.()), orderId: r.orderId };
        }
        case 'retire': {
          const r = await deps.caRotation.retire();
          return {
            status: caStatusMessage(r.status, await deps.scheduled?.()),
            blockers: r.blockers.map(certificateMessage),
          };
        }
        default:
          throw new SigilError(
            ErrorCode.INVALID_ARGUMENT,
            `unknown CA rotation step ${JSON.stringify(request.step)}: use prepare, activate or retire`,
          );
      }
    }),
  };
}

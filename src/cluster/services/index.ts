/**
 * Swarm-mode services for the cluster manager: the /services, /tasks and /nodes API and the
 * reconciler that keeps tasks running on the nodes. The manager mounts it with mountServices.
 */
import type { Router } from '../../api/router.js';
import type { ServicesContext } from './context.js';
import { startReconciler, type Reconciler } from './reconciler.js';
import { serviceRoutes, swarmInfo } from './routes.js';

export type { ServicesContext } from './context.js';
export { serviceRoutes, swarmInfo } from './routes.js';
export { startReconciler, type Reconciler } from './reconciler.js';

export interface MountedServices {
  reconciler: Reconciler;
  /** The Swarm object for the manager's /info. */
  swarmInfo(): Record<string, unknown>;
  stop(): Promise<void>;
}

/** Adds the routes to the manager's router and starts the reconciler (which acts only while ctx.isPrimary()). */
export function mountServices(router: Router, ctx: ServicesContext): MountedServices {
  const reconciler = startReconciler(ctx);
  serviceRoutes(router, ctx, { kick: () => reconciler.kick() });
  return { reconciler, swarmInfo: () => swarmInfo(ctx), stop: () => reconciler.stop() };
}

// What one shim daemon serves: one container, one pod, or a whole namespace. Chosen per container
// by an annotation, else by the runtime options' `Grouping` key, else by containerd's environment
// (`TSSHIM_GROUPING`); the default is `pod`.
import { ShimError } from '../base/errors.js';

export const GROUPINGS = ['container', 'pod', 'namespace'] as const;
export type Grouping = (typeof GROUPINGS)[number];
export const DEFAULT_GROUPING: Grouping = 'pod';

/** Annotation that picks the grouping for one container. */
export const GROUPING_ANNOTATION = 'io.containerd.tsshim.v2.grouping';
/** containerd's environment variable that sets the default for all containers. */
export const GROUPING_ENV = 'TSSHIM_GROUPING';
/**
 * Set ('1') in a daemon's environment by `start` when other containers may join its group after
 * its own (a namespace, or a group named by annotation): only such a daemon waits a while for
 * them once its last container is gone.
 */
export const GROUPED_DAEMON_ENV = 'TSSHIM_GROUPED_DAEMON';
/** Annotations naming a pod-like group: containers with the same value share one daemon. */
export const GROUP_ANNOTATIONS = ['io.containerd.tsshim.v2.group', 'io.kubernetes.cri.sandbox-id'];

/** '' means unset; anything else must name a grouping. */
export function parseGrouping(value: string, source: string): Grouping | undefined {
  if (value === '') return undefined;
  const grouping = GROUPINGS.find((g) => g === value.toLowerCase());
  if (grouping === undefined) {
    throw new ShimError(
      'invalid-argument',
      `invalid ${source} ${JSON.stringify(value)}: want one of ${GROUPINGS.join(', ')}`,
    );
  }
  return grouping;
}

/**
 * The key whose containers share a daemon. Container ids cannot contain ':', so a namespace key
 * never collides with a container or pod id.
 */
export function groupKey(
  grouping: Grouping,
  annotations: Readonly<Record<string, string>>,
  id: string,
  namespace: string,
): string {
  switch (grouping) {
    case 'container':
      return id;
    case 'namespace':
      return `namespace:${namespace}`;
    case 'pod':
      for (const key of GROUP_ANNOTATIONS) {
        const value = annotations[key];
        if (value) return value;
      }
      return id;
  }
}

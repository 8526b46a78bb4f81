/**
 * Swarm-mode wire shapes (moby api/swagger.yaml: ServiceSpec, Service, Task, Node) and the
 * records berth keeps in etcd for them. The wire shapes are what the docker CLI decodes, so
 * field names and nesting follow the reference exactly; durations are nanoseconds there too.
 */

export interface Mount {
  Type?: 'bind' | 'volume' | 'tmpfs';
  Source?: string;
  Target: string;
  ReadOnly?: boolean;
  VolumeOptions?: { NoCopy?: boolean; Labels?: Record<string, string> };
  TmpfsOptions?: { SizeBytes?: number; Mode?: number };
}

export interface HealthConfig {
  Test?: string[];
  Interval?: number;
  Timeout?: number;
  Retries?: number;
  StartPeriod?: number;
}

export interface ContainerSpec {
  Image: string;
  Labels?: Record<string, string>;
  Command?: string[];
  Args?: string[];
  Hostname?: string;
  Env?: string[];
  Dir?: string;
  User?: string;
  Mounts?: Mount[];
  StopGracePeriod?: number;
  StopSignal?: string;
  Healthcheck?: HealthConfig;
  Init?: boolean;
  TTY?: boolean;
}

export interface ResourceSet {
  NanoCPUs?: number;
  MemoryBytes?: number;
}

export type RestartCondition = 'none' | 'on-failure' | 'any';

export interface RestartPolicy {
  Condition?: RestartCondition;
  /** Nanoseconds between a task's end and its replacement's start. */
  Delay?: number;
  /** 0 means unlimited. */
  MaxAttempts?: number;
  Window?: number;
}

export interface Placement {
  Constraints?: string[];
  Preferences?: { Spread: { SpreadDescriptor: string } }[];
  MaxReplicas?: number;
}

export interface NetworkAttachment {
  Target: string;
  Aliases?: string[];
}

export interface TaskSpec {
  ContainerSpec: ContainerSpec;
  Resources?: { Limits?: ResourceSet; Reservations?: ResourceSet };
  RestartPolicy?: RestartPolicy;
  Placement?: Placement;
  Networks?: NetworkAttachment[];
  ForceUpdate?: number;
  Runtime?: string;
  LogDriver?: { Name: string; Options?: Record<string, string> };
}

export type FailureAction = 'pause' | 'continue' | 'rollback';

export interface UpdateConfig {
  Parallelism?: number;
  /** Nanoseconds between updating one task and the next. */
  Delay?: number;
  FailureAction?: FailureAction;
  /** Nanoseconds a new task is watched for failure after it runs. */
  Monitor?: number;
  MaxFailureRatio?: number;
  Order?: 'stop-first' | 'start-first';
}

export interface PortConfig {
  Name?: string;
  Protocol?: 'tcp' | 'udp' | 'sctp';
  TargetPort: number;
  PublishedPort?: number;
  PublishMode?: 'ingress' | 'host';
}

export interface EndpointSpec {
  Mode?: 'vip' | 'dnsrr';
  Ports?: PortConfig[];
}

export interface ServiceMode {
  Replicated?: { Replicas?: number };
  Global?: Record<string, never>;
}

export interface ServiceSpec {
  Name: string;
  Labels?: Record<string, string>;
  TaskTemplate: TaskSpec;
  Mode?: ServiceMode;
  UpdateConfig?: UpdateConfig;
  RollbackConfig?: UpdateConfig;
  /** Deprecated in the API in favour of TaskTemplate.Networks; still accepted. */
  Networks?: NetworkAttachment[];
  EndpointSpec?: EndpointSpec;
}

export type UpdateState = 'updating' | 'paused' | 'completed' | 'rollback_started' | 'rollback_paused' | 'rollback_completed';

export interface UpdateStatus {
  State: UpdateState;
  StartedAt?: string;
  CompletedAt?: string;
  Message?: string;
}

export interface Version {
  Index: number;
}

/** A service as GET /services returns it. */
export interface Service {
  ID: string;
  Version: Version;
  CreatedAt: string;
  UpdatedAt: string;
  Spec: ServiceSpec;
  PreviousSpec?: ServiceSpec;
  Endpoint: { Spec: EndpointSpec; Ports?: PortConfig[]; VirtualIPs?: { NetworkID: string; Addr: string }[] };
  UpdateStatus?: UpdateStatus;
  ServiceStatus?: { RunningTasks: number; DesiredTasks: number; CompletedTasks: number };
}

/** What berth stores for a service: the wire shape minus what is derived on read. */
export interface ServiceRecord {
  ID: string;
  CreatedAt: string;
  UpdatedAt: string;
  Spec: ServiceSpec;
  PreviousSpec?: ServiceSpec;
  UpdateStatus?: UpdateStatus;
}

export type TaskState =
  | 'new'
  | 'pending'
  | 'assigned'
  | 'accepted'
  | 'preparing'
  | 'ready'
  | 'starting'
  | 'running'
  | 'complete'
  | 'shutdown'
  | 'failed'
  | 'rejected'
  | 'remove'
  | 'orphaned';

export type DesiredState = 'running' | 'shutdown' | 'remove';

export interface TaskStatus {
  Timestamp: string;
  State: TaskState;
  Message: string;
  Err?: string;
  ContainerStatus?: { ContainerID?: string; PID?: number; ExitCode?: number };
  PortStatus?: { Ports?: PortConfig[] };
}

/** A task as GET /tasks returns it; berth stores the same object plus the fields below. */
export interface Task {
  ID: string;
  Version: Version;
  CreatedAt: string;
  UpdatedAt: string;
  Labels: Record<string, string>;
  Spec: TaskSpec;
  ServiceID: string;
  Slot?: number;
  NodeID?: string;
  Status: TaskStatus;
  DesiredState: DesiredState;
}

/** The stored task: the wire fields plus the reconciler's bookkeeping (not part of the API). */
export interface TaskRecord extends Omit<Task, 'Version'> {
  /** Hash of everything in the service spec that its containers are made from. */
  SpecHash: string;
  /** Replacements of this slot under the same spec so far (restart policy MaxAttempts). */
  Attempt: number;
  /** Epoch ms before which a replacement must not start (restart delay back-off). */
  NotBefore?: number;
  /** Epoch ms the task was first seen running and healthy (rolling updates, monitor). */
  ReadyAt?: number;
}

export type NodeAvailability = 'active' | 'pause' | 'drain';

export interface NodeSpec {
  Name?: string;
  Labels?: Record<string, string>;
  Role: 'worker' | 'manager';
  Availability: NodeAvailability;
}

/** A node as GET /nodes returns it. */
export interface SwarmNode {
  ID: string;
  Version: Version;
  CreatedAt: string;
  UpdatedAt: string;
  Spec: NodeSpec;
  Description: {
    Hostname: string;
    Platform: { Architecture: string; OS: string };
    Resources: { NanoCPUs: number; MemoryBytes: number };
    Engine: { EngineVersion: string; Labels: Record<string, string>; Plugins: { Type: string; Name: string }[] };
  };
  Status: { State: 'unknown' | 'down' | 'ready' | 'disconnected'; Message?: string; Addr: string };
  ManagerStatus?: { Leader: boolean; Reachability: 'unknown' | 'unreachable' | 'reachable'; Addr: string };
}

/** What berth stores per node: the user's settings, and the last description seen. */
export interface NodeRecord {
  ID: string;
  CreatedAt: string;
  UpdatedAt: string;
  Spec: NodeSpec;
  Hostname: string;
  Addr: string;
  NanoCPUs: number;
  MemoryBytes: number;
  EngineLabels: Record<string, string>;
}

/** Container labels that tie a container to its task, as swarm mode sets them. */
export const LABEL = {
  serviceId: 'com.docker.swarm.service.id',
  serviceName: 'com.docker.swarm.service.name',
  taskId: 'com.docker.swarm.task.id',
  taskName: 'com.docker.swarm.task.name',
  nodeId: 'com.docker.swarm.node.id',
  slot: 'com.docker.swarm.task.slot',
  constraints: 'com.docker.swarm.constraints',
  /** Which cluster store a task belongs to: engines shared by two clusters keep them apart. */
  cluster: 'berth.swarm.cluster',
} as const;

// The containerd 2.3+ start protocol and RuntimeInfo (what `-info` prints).
import '../int64/encode';
import * as pb from '../generated/bootstrap';

/** containerd.runtime.bootstrap.v1: BootstrapParams, BootstrapResult. */
export import bootstrap = pb.containerd.runtime.bootstrap.v1;
/** containerd.types of the bootstrap bundle: RuntimeInfo. */
export import introspection = pb.containerd.types;

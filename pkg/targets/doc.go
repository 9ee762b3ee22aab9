// Package targets is the registry of the Kubernetes kinds carousel touches:
// for each kind, where the API serves it (group, version, resource), where a
// workload keeps its pod template, whether carousel can roll it and how its
// controller reports a rollout done (rollout.go), and where an object keeps
// the caBundle carousel injects.
//
// Every package that needs to know a kind asks a Registry (spec validates
// restart rules and caBundle targets against it, gen finds pod specs and
// caBundles, plan tells workloads from material, status reads live objects
// and their rollouts): Builtin is the table below, and a rotation's own
// registry (spec.Spec.Kinds) adds the workload kinds its spec declares. So
// teaching carousel a new kind is one entry in this table and one row in its
// test, or, for a user, one entry of spec.workloadKinds. The package imports
// no other carousel package, so any of them can import it.
package targets

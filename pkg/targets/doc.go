// Package targets is the registry of the Kubernetes kinds carousel touches:
// for each kind, where the API serves it (group, version, resource), where a
// workload keeps its pod template and whether carousel can roll it, and where
// an object keeps the caBundle carousel injects.
//
// Every package that needs to know a kind reads it here (spec validates
// restart rules and caBundle targets against it, gen finds pod specs and
// caBundles, plan tells workloads from material, status reads live objects),
// so teaching carousel a new kind is one entry in this table and one row in
// its test. The package imports no other carousel package, so any of them
// can import it.
package targets

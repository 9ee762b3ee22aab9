package fn

// examples are shown by --help, one set per command: what a first run
// types. Kept here, together, so every command has them (fn/cli_test.go
// fails for a command without).
var examples = map[string]string{
	"carousel": `  # Render the package's current phase (carousel is its transformer)
  kustomize build --enable-alpha-plugins --enable-exec examples/cluster-ca

  # The lifecycle of one rotation
  carousel init examples/cluster-ca/carousel.yaml --age "$(age-keygen -y age.key)"
  carousel start examples/cluster-ca/carousel.yaml
  carousel plan examples/cluster-ca/carousel.yaml
  carousel advance examples/cluster-ca/carousel.yaml`,
	"init": `  # Make the current CA and its leaves, keys encrypted to an age recipient
  carousel init carousel.yaml --age "$(age-keygen -y age.key)"

  # Adopt the CA a cluster already runs on
  carousel init carousel.yaml --ca-cert /etc/kubernetes/pki/ca.crt --ca-key /etc/kubernetes/pki/ca.key

  # The presets: a written-out spec for linkerd, istio, osm, kubernetes, ...
  carousel init --preset list

  # A Linkerd package from its preset (spec, kustomization.yaml, material)
  carousel init --preset linkerd carousel.yaml --age "$(age-keygen -y age.key)"

  # The cluster CA preset under another name
  carousel init --preset kubernetes --name prod-cluster-ca carousel.yaml --age "$(age-keygen -y age.key)"`,
	"start": `  # Begin a CA rotation: a new CA and every leaf for it
  carousel start carousel.yaml

  # Re-issue only the webhook's leaf under the same CA
  carousel start carousel.yaml --scope leaf --leaf policy-webhook

  # Re-issue every leaf of a group (rke cert rotate --service etcd)
  carousel start carousel.yaml --scope leaf --leaf etcd

  # Give the CA a longer life over the same key: no leaf re-issued, only trust consumers roll
  carousel start carousel.yaml --scope renew

  # A new CA the current one cross-signs: clients that cannot be updated in time keep working until cleanup
  carousel start carousel.yaml --scope cross-sign

  # After importing an intermediate (csr --ca, import): issue every new leaf with it
  carousel start carousel.yaml`,
	"build": `  # Render a package as kustomize build --enable-alpha-plugins --enable-exec does, no program run
  carousel build examples/cluster-ca

  # Argo CD's call when argocd-cm names carousel as a kustomize version
  carousel build /tmp/repo/examples/argocd/app --load-restrictor LoadRestrictionsNone`,
	"version": `  # What a repo-server or CI job runs: version, commit, module, Go version and platform
  carousel version
  carousel version -o json

  # As Argo CD asks a named kustomize (carousel build is kustomize v5.8.2)
  carousel version --short`,
	"schema": `  # Validate a CARotation in an editor or CI
  carousel schema > carotations.crd.yaml`,
	"plan": `  # What the next phase changes, rolls and gates
  carousel plan carousel.yaml

  # The same for scripts
  carousel plan carousel.yaml -o json`,
	"advance": `  # Move to the next phase and print the pull request
  carousel advance carousel.yaml

  # Roll back one phase, the pull-request body to a file
  carousel advance carousel.yaml --to trust-new --out pr.md`,
	"check": `  # In CI on a pull request
  carousel check carousel.yaml --base origin/main

  # Also refuse a stale committed render
  carousel check carousel.yaml --base origin/main --rendered rendered.yaml`,
	"renew": `  # In a scheduled job: start what expires within 30 days (exit 4: nothing due)
  carousel renew carousel.yaml --before 720h

  # The same, renewing a due CA over its own key (no leaf re-issued) when the key meets the policy
  carousel renew carousel.yaml --before 720h --in-place`,
	"csr": `  # Request the next CA as an intermediate of an external root
  carousel csr carousel.yaml --ca

  # Request two leaves
  carousel csr carousel.yaml --leaf api --leaf metrics`,
	"import": `  # Complete the pending material with the signed certificates
  carousel import carousel.yaml --cert ca.pem --chain root.pem`,
	"sign": `  # A shared root signs a cluster's first intermediate (its request from openssl or carousel csr --ca)
  carousel sign root/carousel.yaml --csr east.csr --out east.pem --chain-out root.pem

  # ... and, after carousel start of the root, the cluster's next one under the new root
  carousel sign root/carousel.yaml --generation new --csr clusters/east/material/pending/ca-new.csr --out east-new.pem --chain-out root-new.pem`,
	"status": `  # Has the current phase converged in the cluster?
  carousel status carousel.yaml --context prod

  # Wait for it (exit 0 converged, 3 still converging at the timeout, 2 blocked)
  carousel status carousel.yaml --wait --timeout 15m

  # Every cluster of a shared root, each in its kubeconfig context, and the fleet window
  carousel status root/carousel.yaml`,
	"kubeconfig": `  # A user account's kubeconfig for the current phase, outside the repository
  carousel kubeconfig carousel.yaml --leaf jane --out ~/.kube/jane.conf

  # The same for the phase the pull request moves to
  carousel kubeconfig carousel.yaml --leaf jane --phase sign-new --out ~/.kube/jane.conf`,
	"pull": `  # Backend cert-manager: commit the public certificates of the CAs cert-manager issued
  carousel pull examples/linkerd-cert-manager/carousel.yaml --context prod
  git add examples/linkerd-cert-manager/material && git commit -m "linkerd: pull CA generation 2"`,
	"decrypt": `  # A transformer after carousel in an Argo CD overlay (see examples/argocd)
  SOPS_AGE_KEY_FILE=age.key kustomize build --enable-alpha-plugins --enable-exec overlay`,
	"install": `  # An init container of the carousel image (it has no shell to cp with)
  carousel install /custom-tools

  # An init container of another image, running the carousel copied above
  /custom-tools/carousel install --from /app/kustomize /custom-tools`,
	"publish": `  # Write the state consumer packages render from (to spec.publish), in the phase's pull request
  carousel advance carousel.yaml && carousel publish carousel.yaml`,
}

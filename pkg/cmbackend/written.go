package cmbackend

import (
	"context"
	"encoding/json"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/carousel-dev/carousel/pkg/spec"
)

// DataWritten is when data[key] of an object was last written: the latest
// time the API server recorded (metadata.managedFields) for a field
// manager owning that field. It is the moment a pod mounting the object
// could first read what it holds now, which is what a roll must come
// after. The server records whole seconds; false when no manager owns the
// field (an object written before managed fields, or never).
//
// Neither controller's own record serves: a leaf certificate's NotBefore
// is set when the CertificateRequest is signed, before another controller
// writes the Secret (a pod created in between reads the old leaf), and a
// Bundle's Synced condition changes its time only when its status flips.
func DataWritten(u *unstructured.Unstructured, key string) (time.Time, bool) {
	var latest time.Time
	found := false
	for _, mf := range u.GetManagedFields() {
		if mf.FieldsV1 == nil || mf.Time == nil {
			continue
		}
		var fields map[string]map[string]any
		if err := json.Unmarshal(mf.FieldsV1.Raw, &fields); err != nil {
			continue
		}
		if _, ok := fields["f:data"]["f:"+key]; !ok {
			continue
		}
		if t := mf.Time.Time; !found || t.After(latest) {
			latest, found = t, true
		}
	}
	return latest, found
}

// LeafWritten is when cert-manager last wrote a leaf's certificate into its
// Secret (DataWritten of tls.crt); false when the Secret does not exist yet.
func LeafWritten(ctx context.Context, c dynamic.Interface, l spec.Leaf) (time.Time, bool, error) {
	return written(ctx, c, secrets, l.Secret.Namespace, l.Secret.Name, "tls.crt")
}

// BundleWritten is when trust-manager last wrote a Bundle's target in one
// namespace (DataWritten of the target key); false when it has not yet.
func BundleWritten(ctx context.Context, c dynamic.Interface, b spec.Bundle, namespace string) (time.Time, bool, error) {
	res := configMaps
	if b.Kind == "Secret" {
		res = secrets
	}
	return written(ctx, c, res, namespace, b.Name, b.Key)
}

func written(ctx context.Context, c dynamic.Interface, res schema.GroupVersionResource, ns, name, key string) (time.Time, bool, error) {
	u, err := c.Resource(res).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, err
	}
	t, ok := DataWritten(u, key)
	return t, ok, nil
}

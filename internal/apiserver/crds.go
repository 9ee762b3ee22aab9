package apiserver

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// WaitEstablished fails the test unless every CRD that the kubectl object
// arguments name ("-f", FILE or "crd/NAME" ...) is Established within 60 s.
func (s *Server) WaitEstablished(t testing.TB, objects ...string) {
	t.Helper()
	if err := s.Established(60*time.Second, objects...); err != nil {
		t.Fatal(err)
	}
}

// Established polls until every CRD that the kubectl object arguments name
// is Established, or timeout passes.
//
// `kubectl wait --for=condition=Established` is not enough: right after
// an apply a CRD has no status.conditions yet, and kubectl wait then fails
// at once ("<nil> is of the type <nil>, expected []interface{}") instead of
// waiting. That raced in the suite on a loaded machine.
func (s *Server) Established(timeout time.Duration, objects ...string) error {
	deadline := time.Now().Add(timeout)
	for {
		names, _, err := s.KubectlErr(append([]string{"get", "-o", "name"}, objects...)...)
		want := len(strings.Fields(string(names)))
		var got int
		if err == nil && want > 0 {
			out, _, err := s.KubectlErr(append([]string{"get", "-o", `jsonpath={..status.conditions[?(@.type=="Established")].status}`}, objects...)...)
			if err == nil {
				got = strings.Count(string(out), "True")
			}
		}
		if want > 0 && got == want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("CRDs %s: %d of %d established within %s", strings.Join(objects, " "), got, want, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

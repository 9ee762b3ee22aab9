package status

import (
	"context"
	"crypto/tls"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carousel-dev/carousel/internal/testkit"
	"github.com/carousel-dev/carousel/pkg/phases"
	"github.com/carousel-dev/carousel/pkg/spec"
)

// serve runs a real TLS server on loopback presenting cert until the test ends.
func serve(t *testing.T, cert tls.Certificate) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	return ln.Addr().String()
}

func TestProbesTellTheServedLeafApart(t *testing.T) {
	pkg := testkit.Load(t, filepath.Join(testkit.Root(t), "examples", "cluster-ca"))
	rot, err := spec.Load(pkg.WithPhase(t, phases.SignNew))
	if err != nil {
		t.Fatal(err)
	}
	leafOf := func(phase phases.Phase, name string) tls.Certificate {
		for _, l := range testkit.Leaves(t, rot, pkg.Render(t, phase).Items, true) {
			if l.Name == name {
				return l.Pair
			}
		}
		t.Fatalf("no leaf %s", name)
		return tls.Certificate{}
	}
	signNew := pkg.Render(t, phases.SignNew)
	probe := func(addr string) ObjectStatus {
		p := spec.Probe{Address: addr, ServerName: "policy-webhook.policy.svc", Leaf: "policy-webhook"}
		return ProbeStatus(context.Background(), p, signNew.Signer, signNew.Leaves["policy-webhook"], nil, false, signNew.KnownLeaves)
	}
	tests := []struct {
		name   string
		addr   string
		state  Verdict
		detail string
	}{
		{"a server presenting the phase's leaf has converged", serve(t, leafOf(phases.SignNew, "policy-webhook")), Converged, ""},
		{"a server still presenting the old leaf is progressing", serve(t, leafOf(phases.Steady, "policy-webhook")), Progressing, "has not reloaded or rolled"},
		{"a server presenting another leaf of the rotation is blocked", serve(t, leafOf(phases.SignNew, "metrics-client")), Blocked, `serves leaf "metrics-client", not "policy-webhook"`},
		{"a server presenting a certificate of another CA is blocked", serve(t, foreign(t)), Blocked, "not this rotation's"},
		{"an unreachable endpoint is progressing", unreachable(t), Progressing, "cannot reach it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := probe(tt.addr)
			if got.State != tt.state || !strings.Contains(got.Detail, tt.detail) {
				t.Fatalf("got %s (%s), want %s (%s)", got.State, got.Detail, tt.state, tt.detail)
			}
		})
	}
}

// unreachable returns a loopback address nothing listens on.
func unreachable(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// foreign is a leaf of another rotation (the neuvector example).
func foreign(t *testing.T) tls.Certificate {
	other := testkit.Load(t, filepath.Join(testkit.Root(t), "examples", "neuvector"))
	rot := other.Rotation(t)
	return testkit.Leaves(t, rot, other.Render(t, phases.Steady).Items, true)[0].Pair
}

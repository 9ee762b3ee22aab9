package spec

import (
	"reflect"
	"strings"
	"testing"
)

// etcdLeaves are RKE's per-node etcd certificates, one group.
const etcdLeaves = `  - {name: etcd-node1, group: etcd, secret: {name: etcd-node1, namespace: kube-system}}
  - {name: etcd-node2, group: etcd, secret: {name: etcd-node2, namespace: kube-system}}
`

func TestLeafGroups(t *testing.T) {
	tests := []struct {
		name, leaves, err string
	}{
		{"leaves of one group are accepted", etcdLeaves, ""},
		{"a group named like its own only leaf is accepted", "  - {name: kubelet, group: kubelet, secret: {name: kubelet, namespace: kube-system}}\n", ""},
		{"a group named like a leaf outside it is refused", etcdLeaves + "  - {name: etcd, secret: {name: etcd, namespace: kube-system}}\n",
			`spec.leaves[1].group: "etcd" is also the name of leaf "etcd", which is not in group "etcd"`},
		{"a group name that is not a DNS label is refused", "  - {name: a, group: Etcd_Nodes, secret: {name: a, namespace: kube-system}}\n",
			`spec.leaves[1].group: "Etcd_Nodes" must be a DNS label`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := load(t, base+tt.leaves)
			if tt.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("want %q, got %v", tt.err, err)
			}
			_ = r
		})
	}
}

func TestAGroupNameSelectsEveryLeafOfTheGroupAndALeafNameOnlyItself(t *testing.T) {
	r, err := load(t, base+etcdLeaves)
	if err != nil {
		t.Fatal(err)
	}
	names := func(ls []Leaf) string {
		var out []string
		for _, l := range ls {
			out = append(out, l.Name)
		}
		return strings.Join(out, ",")
	}
	for name, want := range map[string]string{"etcd": "etcd-node1,etcd-node2", "etcd-node2": "etcd-node2", "issuer": "issuer", "nope": ""} {
		if got := names(r.Spec.LeavesNamed(name)); got != want {
			t.Errorf("%s selects %q, want %q", name, got, want)
		}
	}
}

// TestClustersWithoutGroupsAreOneMeshAndNamedGroupsHoldOnlyTheirMembers:
// the fleet window holds together the clusters of each group; with no
// group named anywhere every cluster talks to every other.
func TestClustersWithoutGroupsAreOneMeshAndNamedGroupsHoldOnlyTheirMembers(t *testing.T) {
	mesh := Spec{Clusters: []Cluster{{Name: "east"}, {Name: "west"}, {Name: "south"}}}
	if got, want := mesh.ClusterGroups(), map[string][]string{Mesh: {"east", "west", "south"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("no groups: got %v, want %v", got, want)
	}
	named := Spec{Clusters: []Cluster{{Name: "east", Groups: []string{"emea", "gateway"}}, {Name: "west", Groups: []string{"emea"}}, {Name: "south", Groups: []string{"gateway"}}}}
	if got, want := named.ClusterGroups(), map[string][]string{"emea": {"east", "west"}, "gateway": {"east", "south"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("named groups: got %v, want %v", got, want)
	}
	if got := (&Spec{}).ClusterGroups(); len(got) != 0 {
		t.Errorf("no clusters: got %v, want no group", got)
	}
}

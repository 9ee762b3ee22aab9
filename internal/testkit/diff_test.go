package testkit

import "testing"

func TestDiffIsAUnifiedDiffWithThreeLinesOfContext(t *testing.T) {
	tests := []struct {
		name      string
		want, got string
		diff      string
	}{
		{"equal texts have no diff", "a\nb\n", "a\nb\n", ""},
		{"a changed line shows as removed and added between its context",
			"1\n2\n3\n4\n5\n6\n7\n8\n9\n", "1\n2\n3\n4\nfive\n6\n7\n8\n9\n",
			"--- want\n+++ got\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n"},
		{"changes far apart are separate hunks",
			"a\n1\n2\n3\n4\n5\n6\n7\nb\n", "A\n1\n2\n3\n4\n5\n6\n7\nB\n",
			"--- want\n+++ got\n@@ -1,4 +1,4 @@\n-a\n+A\n 1\n 2\n 3\n@@ -6,4 +6,4 @@\n 5\n 6\n 7\n-b\n+B\n"},
		{"changes close together share a hunk",
			"a\n1\n2\n3\nb\n", "A\n1\n2\n3\nB\n",
			"--- want\n+++ got\n@@ -1,5 +1,5 @@\n-a\n+A\n 1\n 2\n 3\n-b\n+B\n"},
		{"lines added to an empty file start at line zero",
			"", "x\ny\n",
			"--- want\n+++ got\n@@ -0,0 +1,2 @@\n+x\n+y\n"},
		{"a missing final newline is marked",
			"a\nb\n", "a\nb",
			"--- want\n+++ got\n@@ -1,2 +1,2 @@\n a\n-b\n+b\n\\ No newline at end of file\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Diff("want", "got", []byte(tc.want), []byte(tc.got)); got != tc.diff {
				t.Fatalf("got\n%s\nwant\n%s", got, tc.diff)
			}
		})
	}
}

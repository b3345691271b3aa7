package suggest

import "testing"

func TestClosest(t *testing.T) {
	names := []string{"stripe", "github", "gitlab", "openai", "jira", "custom", "google-cloud"}
	for _, tc := range []struct{ word, want string }{
		{"stripe", "stripe"},
		{"Stripe", "stripe"},       // case
		{"strip", "stripe"},        // a letter short
		{"sritpe", "stripe"},       // swapped letters
		{"stirpe", "stripe"},       // swapped letters
		{"githib", "github"},       // one substitution
		{"gitlap", "gitlab"},       // nearer gitlab than github
		{"google", "google-cloud"}, // a prefix
		{"jir", "jira"},
		{"zzz", ""},        // nothing near
		{"salesforce", ""}, // a real name not in the list
		{"", ""},
	} {
		if got := Closest(tc.word, names); got != tc.want {
			t.Errorf("Closest(%q) = %q, want %q", tc.word, got, tc.want)
		}
	}
}

func TestDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"a", "", 1}, {"abc", "abc", 0}, {"abc", "acb", 1}, {"kitten", "sitting", 3},
	} {
		if got := distance(tc.a, tc.b); got != tc.want {
			t.Errorf("distance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

package oauth1

import (
	"errors"
	"net/url"
	"reflect"
	"testing"
)

func TestEncode(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", ""},
		{"abcXYZ019-._~", "abcXYZ019-._~"}, // unreserved stay (§3.6)
		{"a b", "a%20b"},                   // never "+"
		{"a+b", "a%2Bb"},
		{"=%3D", "%3D%253D"}, // the RFC's b5 value
		{"c@", "c%40"},
		{"*!'()", "%2A%21%27%28%29"},
		{"é", "%C3%A9"}, // UTF-8 octets, upper-case hex
		{"/?&=#", "%2F%3F%26%3D%23"},
		{"\x00\xff", "%00%FF"},
	}
	for _, c := range cases {
		if got := Encode(c.in); got != c.want {
			t.Errorf("Encode(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestParseForm(t *testing.T) {
	cases := []struct {
		in   string
		want []Param
	}{
		{"", nil},
		{"a=1", []Param{{"a", "1"}}},
		{"c2", []Param{{"c2", ""}}},              // no "=": empty value
		{"c2=", []Param{{"c2", ""}}},             // "=": empty value
		{"a3=2+q", []Param{{"a3", "2 q"}}},       // "+" is a space in forms
		{"a3=2%2Bq", []Param{{"a3", "2+q"}}},     // an encoded plus is a plus
		{"b5=%3D%253D", []Param{{"b5", "=%3D"}}}, // decoded once
		{"c%40=", []Param{{"c@", ""}}},
		{"a=1&a=2&a=1", []Param{{"a", "1"}, {"a", "2"}, {"a", "1"}}}, // repeats kept
		{"a=1&&b=2&", []Param{{"a", "1"}, {"b", "2"}}},               // empty pairs skipped
		{"=v", []Param{{"", "v"}}},
		{"a=b=c", []Param{{"a", "b=c"}}},
		{"x=%e2%82%ac", []Param{{"x", "€"}}},
	}
	for _, c := range cases {
		got, err := ParseForm(c.in)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseForm(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, in := range []string{"a=%", "a=%4", "a=%zz", "%g0=1"} {
		if _, err := ParseForm(in); !errors.Is(err, ErrMalformedForm) {
			t.Errorf("ParseForm(%q) error = %v, want ErrMalformedForm", in, err)
		}
	}
}

func TestParseFormBoundsParameterCount(t *testing.T) {
	q := url.Values{}
	for i := range MaxParams + 1 {
		q.Add("p", string(rune('a'+i%26)))
	}
	if _, err := ParseForm(q.Encode()); !errors.Is(err, ErrMalformedForm) {
		t.Fatalf("%d parameters accepted: %v", MaxParams+1, err)
	}
}

// TestNormalize: §3.4.1.3.2 — encode, sort by name then value (byte
// order of the encoded forms), "=" even for empty values.
func TestNormalize(t *testing.T) {
	cases := []struct {
		name string
		in   []Param
		want string
	}{
		{"RFC 5849 §3.4.1.3.2", []Param{
			{"b5", "=%3D"}, {"a3", "a"}, {"c@", ""}, {"a2", "r b"}, {"oauth_consumer_key", "9djdj82h48djs9d2"},
			{"oauth_token", "kkk9d7dh3k39sjv7"}, {"oauth_signature_method", "HMAC-SHA1"}, {"oauth_timestamp", "137131201"},
			{"oauth_nonce", "7d8f3e4a"}, {"c2", ""}, {"a3", "2 q"},
		}, "a2=r%20b&a3=2%20q&a3=a&b5=%3D%253D&c%40=&c2=&oauth_consumer_key=9djdj82h48djs9d2&oauth_nonce=7d8f3e4a&oauth_signature_method=HMAC-SHA1&oauth_timestamp=137131201&oauth_token=kkk9d7dh3k39sjv7"},
		{"repeated name, every value, sorted by value", []Param{{"a", "3"}, {"a", "1"}, {"a", "2"}}, "a=1&a=2&a=3"},
		{"identical pairs both kept", []Param{{"a", "1"}, {"a", "1"}}, "a=1&a=1"},
		{"empty values keep their =", []Param{{"b", ""}, {"a", ""}}, "a=&b="},
		{"empty value sorts first", []Param{{"a", "x"}, {"a", ""}}, "a=&a=x"},
		{"name sort is not pair sort", []Param{{"a2", "1"}, {"a", "z"}}, "a=z&a2=1"},
		{"sorted by encoded bytes", []Param{{"a~", "1"}, {"aa", "1"}, {"a b", "1"}}, "a%20b=1&aa=1&a~=1"},
		{"values sorted by encoded bytes", []Param{{"q", "b"}, {"q", "B"}, {"q", " "}, {"q", "é"}}, "q=%20&q=%C3%A9&q=B&q=b"},
		{"plus and space differ", []Param{{"q", "a+b"}, {"q", "a b"}}, "q=a%20b&q=a%2Bb"},
		{"none", nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Normalize(c.in); got != c.want {
				t.Errorf("Normalize = %q\nwant        %q", got, c.want)
			}
		})
	}
}

func TestBaseStringURI(t *testing.T) {
	cases := []struct {
		raw, host, want string
	}{
		{"http://EXAMPLE.COM:80/r%20v/X?id=123", "", "http://example.com/r%20v/X"}, // RFC 5849 §3.4.1.2
		{"https://www.example.net:8080/?q=1", "", "https://www.example.net:8080/"}, // RFC 5849 §3.4.1.2
		{"https://Example.com:443/a", "", "https://example.com/a"},
		{"http://example.com:443/a", "", "http://example.com:443/a"},
		{"https://example.com:80/a", "", "https://example.com:80/a"},
		{"HTTP://example.com", "", "http://example.com/"},
		{"http://[::1]:80/x", "", "http://[::1]/x"},
		{"http://[::1]:8080/x", "", "http://[::1]:8080/x"},
		{"http://[::1]/x", "", "http://[::1]/x"},
		{"http://10.0.0.1/a/b/", "", "http://10.0.0.1/a/b/"},
		{"http://127.0.0.1:5000/x", "API.example.com", "http://api.example.com/x"}, // the Host header wins
		{"http://example.com/a%2Fb", "", "http://example.com/a%2Fb"},               // escaped as sent
	}
	for _, c := range cases {
		u, err := url.Parse(c.raw)
		if err != nil {
			t.Fatal(err)
		}
		got, err := BaseStringURI(u, c.host)
		if err != nil || got != c.want {
			t.Errorf("BaseStringURI(%q, %q) = %q, %v; want %q", c.raw, c.host, got, err, c.want)
		}
	}
	for _, raw := range []string{"ftp://example.com/", "mailto:a@b", "/relative"} {
		u, _ := url.Parse(raw)
		if _, err := BaseStringURI(u, ""); err == nil {
			t.Errorf("BaseStringURI(%q) accepted", raw)
		}
	}
}

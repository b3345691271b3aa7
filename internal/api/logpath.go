package api

import "strings"

// connectPrefix starts the path of every connect link page; what follows
// is the link's secret.
const connectPrefix = "/connect/"

// LogPath is a request path as logs may show it: the secret of a connect
// link (/connect/<secret>[/…]) is replaced, so a link never reaches a log
// line, whatever fails while it is used.
func LogPath(path string) string {
	rest, ok := strings.CutPrefix(path, connectPrefix)
	if !ok || rest == "" || rest == "return" {
		return path
	}
	if _, tail, found := strings.Cut(rest, "/"); found {
		return connectPrefix + "[secret]/" + tail
	}
	return connectPrefix + "[secret]"
}

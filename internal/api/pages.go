package api

import (
	"net/http"

	"github.com/stormcreds/storm/internal/problem"
)

// maxCursor bounds the after parameter: ids are far shorter, and a
// cursor is compared in SQL, never stored.
const maxCursor = 200

// pageParams reads a list's limit and after parameters (shared/API.md
// "Pagination"). Callers fetch limit+1 items: the extra one says whether
// a next page exists without a count.
func pageParams(r *http.Request) (limit int, after string, err error) {
	q := r.URL.Query()
	if limit, err = pageLimit(q.Get("limit")); err != nil {
		return 0, "", err
	}
	after = q.Get("after")
	if len(after) > maxCursor {
		return 0, "", problem.Field("after", "is not an id of this list (too long)")
	}
	return limit, after, nil
}

// trimPage cuts list, fetched with limit+1 items, to limit and sets
// out["next"] to the id of its last item when more follow; on the last
// page next is absent.
func trimPage[T any](list []T, limit int, id func(T) string, out map[string]any) []T {
	if len(list) > limit {
		list = list[:limit]
		out["next"] = id(list[limit-1])
	}
	return list
}

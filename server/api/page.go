package api

import (
	"encoding/base64"

	"github.com/lanyard-dev/lanyard/server/datastore"
)

// Page checks a listing request's page_size and page_token. A token is the next_page_token
// of an earlier page (URL-safe base64, as the datastore writes them); one that cannot be
// is the caller's mistake, answered InvalidArgument rather than as an internal error.
func Page(size int32, token string) (datastore.Page, error) {
	if size < 0 {
		return datastore.Page{}, Invalid("page_size %d: must not be negative (0 lets the server choose)", size)
	}
	if token != "" {
		if b, err := base64.RawURLEncoding.DecodeString(token); err != nil || len(b) == 0 {
			return datastore.Page{}, Invalid("page_token %q was not issued by this server: pass back the previous page's next_page_token unchanged", token)
		}
	}
	return datastore.Page{Size: int(size), Token: token}, nil
}

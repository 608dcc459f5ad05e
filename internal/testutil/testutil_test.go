package testutil_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/internal/testutil"
)

func TestPayload(t *testing.T) {
	e := testutil.Parse(t, testutil.MethodEvent(61, "issued", `,"code":"0042"`))
	assert.Equal(t, testutil.EventID(61), e.ID.String())
	assert.Equal(t, testutil.MethodID(61), e.AccessMethodID.String())
	assert.Equal(t, testutil.WorkspaceID, e.WorkspaceID.String())
	require.Len(t, e.AccessGrantIDs, 1)
	assert.Equal(t, testutil.GrantID, e.AccessGrantIDs[0].String())
	assert.Equal(t, "access_method.issued", e.Type)
	require.NotNil(t, e.Code)
	assert.Equal(t, "0042", *e.Code)
	assert.Equal(t, time.Date(2026, 3, 1, 10, 1, 1, 250e6, time.UTC).UnixNano(), e.OccurredAt)

	at := time.Date(2026, 4, 2, 3, 4, 5, 123456789, time.FixedZone("x", 3600))
	grant := "b0000000-0000-4000-8000-000000000007"
	e = testutil.Parse(t, testutil.Payload{N: 7, Type: "created", Grant: grant, At: at}.JSON())
	assert.Equal(t, at.UnixNano(), e.OccurredAt)
	assert.Equal(t, at.UnixNano(), e.CreatedAt)
	assert.Equal(t, grant, e.AccessGrantIDs[0].String())
}

func TestSign(t *testing.T) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	wh, err := standardwebhooks.NewWebhook(secret)
	require.NoError(t, err)
	body := []byte(`{"event_id":"x"}`)
	for _, family := range []string{"svix-", "webhook-"} {
		h := testutil.Sign(t, secret, family, "msg_1", time.Now(), body)
		assert.Equal(t, "msg_1", h.Get(family+"id"))
		// The library reads webhook-* names.
		as := http.Header{}
		for _, name := range []string{"id", "timestamp", "signature"} {
			as.Set("webhook-"+name, h.Get(family+name))
		}
		assert.NoError(t, wh.Verify(body, as), family)
		assert.Error(t, wh.Verify([]byte(`{"event_id":"y"}`), as), "%s: another body", family)
	}
}

func TestFirst(t *testing.T) {
	for _, n := range []int{1, 10, 1000} {
		raws := testutil.First(t, n, 3)
		assert.Len(t, raws, n)
		assert.Len(t, testutil.ParseAll(t, raws), n)
	}
	all := testutil.Stream(t, 20, 3)
	assert.Len(t, testutil.Events(t, 20, 3), len(all))
}

func TestBuffer(t *testing.T) {
	var b testutil.Buffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				_, _ = b.Write([]byte("ab"))
			}
		})
	}
	_ = b.String() // reading while they write: the race detector checks it
	wg.Wait()
	assert.Equal(t, strings.Repeat("ab", 800), b.String())
}

// failAfter accepts n writes, then fails.
type failAfter struct{ n int }

func (w *failAfter) Write(p []byte) (int, error) {
	if w.n == 0 {
		return 0, errors.New("closed")
	}
	w.n--
	return len(p), nil
}

func TestWriteEndless(t *testing.T) {
	w := &failAfter{n: 20000} // more than one seed's stream
	testutil.WriteEndless(w)
	assert.Zero(t, w.n)
}

func TestGet(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
		_, _ = w.Write([]byte(r.Header.Get("Authorization")))
	}))
	defer srv.Close()
	status, body := testutil.Get(t, srv.URL, "tok")
	assert.Equal(t, http.StatusTeapot, status)
	assert.Equal(t, "Bearer tok", body)
	_, body = testutil.Get(t, srv.URL, "")
	assert.Empty(t, body)
}

package console

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
	"github.com/cloudhsm-local/cloudhsm-local/internal/faults"
	"github.com/cloudhsm-local/cloudhsm-local/internal/identity"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
)

// scope is the account and region a page shows, as the API shows one caller's resources.
type scope struct {
	Account, Region string
}

// query returns the scope as URL parameters, with extra ones.
func (sc scope) query(extra ...string) url.Values {
	q := url.Values{"account": {sc.Account}, "region": {sc.Region}}
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i+1] != "" {
			q.Set(extra[i], extra[i+1])
		}
	}
	return q
}

// Link returns a console path with the scope's parameters and extra ones.
func (sc scope) Link(p string, extra ...string) string {
	return Prefix + p + "?" + sc.query(extra...).Encode()
}

// scopeOf reads the "account" and "region" parameters of r. Without either, it is the first
// account and region that hold something, or else the default account and region.
func (h *handler) scopeOf(r *http.Request) (scope, error) {
	sc := scope{Account: r.FormValue("account"), Region: r.FormValue("region")}
	if sc.Account == "" && sc.Region == "" {
		counts, err := h.cfg.Service.Census(r.Context())
		if err != nil {
			return sc, err
		}
		if len(counts) > 0 {
			return scope{Account: counts[0].Account, Region: counts[0].Region}, nil
		}
		return scope{Account: identity.DefaultAccount, Region: cmp.Or(h.cfg.DefaultRegion, identity.DefaultRegion)}, nil
	}
	if !api.IsAccountID(sc.Account) {
		return sc, statusError{http.StatusBadRequest, fmt.Sprintf("The account %q is not an account id: give 12 digits, such as 111122223333.", api.Clip(sc.Account))}
	}
	if !api.IsRegion(sc.Region) {
		return sc, statusError{http.StatusBadRequest, fmt.Sprintf("The region %q is not a region such as us-east-1.", api.Clip(sc.Region))}
	}
	return sc, nil
}

// owner is one account and region of the overview, with its resources counted by state.
type owner struct {
	scope
	Clusters, HSMs, Backups []stateCount
	ClustersLink            string
	BackupsLink             string
}

// stateCount is a number of resources in one state.
type stateCount struct {
	State string
	Count int
}

// overviewBody is the overview's data.
type overviewBody struct {
	Wall           time.Time
	Version, Store string
	Owners         []owner
	Faults         []faults.Status
	Operations     []string
	ErrorNames     []string
	StateLink      string
}

func (h *handler) overview(r *http.Request) (view, error) {
	counts, err := h.cfg.Service.Census(r.Context())
	if err != nil {
		return view{}, err
	}
	var owners []owner
	for _, c := range counts {
		if len(owners) == 0 || owners[len(owners)-1].scope != (scope{c.Account, c.Region}) {
			sc := scope{c.Account, c.Region}
			owners = append(owners, owner{scope: sc, ClustersLink: sc.Link("clusters"), BackupsLink: sc.Link("backups")})
		}
		o := &owners[len(owners)-1]
		n := stateCount{c.State, c.Count}
		switch c.Kind {
		case store.KindCluster:
			o.Clusters = append(o.Clusters, n)
		case store.KindHSM:
			o.HSMs = append(o.HSMs, n)
		case store.KindBackup:
			o.Backups = append(o.Backups, n)
		}
	}
	return view{Title: "Overview", Nav: "overview", template: "overview", Body: overviewBody{
		Wall: h.cfg.Clock.Now(), Version: h.cfg.Version, Store: h.cfg.Service.StoreKind(),
		Owners: owners, Faults: h.cfg.Faults.List(),
		Operations: append([]string{faults.AnyOperation}, api.OperationNames()...), ErrorNames: faults.ErrorNames(),
		StateLink: StatePath,
	}}, nil
}

// Page sizes: the most one DescribeBackups or DescribeClusters call returns, so that every page
// is one call of the service.
const (
	pageSize        = 50 // backups
	clusterPageSize = 25
)

// clustersBody is the clusters page's data.
type clustersBody struct {
	Scope    scope
	Clusters []clusterRow
	Next     string // the next page's link, "" on the last
}

func (h *handler) clusters(r *http.Request) (view, error) {
	sc, err := h.scopeOf(r)
	if err != nil {
		return view{}, err
	}
	in := &api.DescribeClustersRequest{MaxResults: ptr(int32(clusterPageSize))}
	if tok := r.FormValue("token"); tok != "" {
		in.NextToken = &tok
	}
	out, err := invoke(r.Context(), sc, in, h.cfg.Service.DescribeClusters)
	if err != nil {
		return view{}, err
	}
	body := clustersBody{Scope: sc}
	for _, c := range out.Clusters {
		body.Clusters = append(body.Clusters, newClusterRow(sc, c))
	}
	if out.NextToken != nil {
		body.Next = sc.Link("clusters", "token", *out.NextToken)
	}
	return view{Title: "Clusters", Nav: "clusters", template: "clusters", Body: body}, nil
}

// clusterBody is a cluster page's data.
type clusterBody struct {
	Scope        scope
	Cluster      clusterRow
	HSMs         []hsmRow
	Certificates []certificate
	Tags         []tag
	Subnets      []subnet
	Retention    string
	BackupPolicy string
	List         backupList
	BackupsLink  string
	CanActivate  bool
	CanBackUp    bool
}

// subnet is one entry of a cluster's subnet mapping.
type subnet struct{ Zone, ID string }

// findCluster reads one cluster of sc through DescribeClusters.
func (h *handler) findCluster(ctx context.Context, sc scope, id string) (api.Cluster, error) {
	out, err := invoke(ctx, sc, &api.DescribeClustersRequest{Filters: map[string][]string{"clusterIds": {id}}}, h.cfg.Service.DescribeClusters)
	if err != nil {
		return api.Cluster{}, err
	}
	if len(out.Clusters) == 0 {
		return api.Cluster{}, statusError{http.StatusNotFound, fmt.Sprintf("Account %s has no cluster %s in %s.", sc.Account, api.Clip(id), sc.Region)}
	}
	return out.Clusters[0], nil
}

func (h *handler) cluster(r *http.Request) (view, error) {
	sc, err := h.scopeOf(r)
	if err != nil {
		return view{}, err
	}
	id := r.PathValue("id")
	c, err := h.findCluster(r.Context(), sc, id)
	if err != nil {
		return view{}, err
	}
	backups, err := invoke(r.Context(), sc, &api.DescribeBackupsRequest{
		Filters: map[string][]string{"clusterIds": {id}}, MaxResults: ptr(int32(pageSize)),
	}, h.cfg.Service.DescribeBackups)
	if err != nil {
		return view{}, err
	}
	now, err := h.cfg.Service.VirtualNow(r.Context())
	if err != nil {
		return view{}, err
	}
	body := clusterBody{
		Scope: sc, Cluster: newClusterRow(sc, c), HSMs: hsmRows(c.Hsms), Tags: tags(c.TagList),
		Certificates: certificates(sc, id, c.Certificates),
		BackupPolicy: deref(c.BackupPolicy),
		List:         h.backupList(sc, backups.Backups, now),
		BackupsLink:  sc.Link("backups", "cluster", id),
		CanActivate:  deref(c.State) == api.ClusterStateInitialized,
		CanBackUp:    deref(c.State) == api.ClusterStateActive,
	}
	if p := c.BackupRetentionPolicy; p != nil {
		body.Retention = deref(p.Value) + " " + deref(p.Type)
	}
	for _, zone := range slices.Sorted(maps.Keys(c.SubnetMapping)) {
		body.Subnets = append(body.Subnets, subnet{zone, c.SubnetMapping[zone]})
	}
	return view{Title: "Cluster " + id, Nav: "clusters", template: "cluster", Body: body}, nil
}

// certificate answers GET clusters/{id}/certificates/{name}: one PEM of a cluster, as a file.
func (h *handler) certificate(w http.ResponseWriter, r *http.Request) {
	sc, err := h.scopeOf(r)
	if err != nil {
		refusal := h.refusal(r, err)
		h.writeError(w, r, refusal.status, refusal.msg)
		return
	}
	id, name := r.PathValue("id"), r.PathValue("name")
	c, err := h.findCluster(r.Context(), sc, id)
	if err != nil {
		refusal := h.refusal(r, err)
		h.writeError(w, r, refusal.status, refusal.msg)
		return
	}
	for _, cert := range certificates(sc, id, c.Certificates) {
		if cert.Name == name {
			w.Header().Set("Content-Type", "application/x-pem-file")
			w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", cert.FileName))
			_, _ = w.Write([]byte(cert.PEM))
			return
		}
	}
	h.writeError(w, r, http.StatusNotFound, fmt.Sprintf("Cluster %s has no certificate %q now.", id, api.Clip(name)))
}

// backupsBody is the backups page's data.
type backupsBody struct {
	Scope   scope
	Filter  backupFilter
	States  []string
	List    backupList
	Next    string // the next page's link, "" on the last
	First   string // the first page's link, "" on the first
	Matched string // what the filter selects, in words
}

// backupFilter is the backups page's filter form.
type backupFilter struct {
	Cluster, State, NeverExpires string
	Oldest                       bool
}

func (h *handler) backups(r *http.Request) (view, error) {
	sc, err := h.scopeOf(r)
	if err != nil {
		return view{}, err
	}
	f := backupFilter{Cluster: r.FormValue("cluster"), State: r.FormValue("state"),
		NeverExpires: r.FormValue("neverExpires"), Oldest: r.FormValue("order") == "oldest"}
	in := &api.DescribeBackupsRequest{Filters: map[string][]string{}, MaxResults: ptr(int32(pageSize))}
	for key, value := range map[string]string{"clusterIds": f.Cluster, "states": f.State, "neverExpires": f.NeverExpires} {
		if value != "" {
			in.Filters[key] = []string{value}
		}
	}
	if f.Oldest {
		in.SortAscending = ptr(true)
	}
	token := r.FormValue("token")
	if token != "" {
		in.NextToken = &token
	}
	out, err := invoke(r.Context(), sc, in, h.cfg.Service.DescribeBackups)
	if err != nil {
		return view{}, err
	}
	now, err := h.cfg.Service.VirtualNow(r.Context())
	if err != nil {
		return view{}, err
	}
	order := ""
	if f.Oldest {
		order = "oldest"
	}
	filter := []string{"cluster", f.Cluster, "state", f.State, "neverExpires", f.NeverExpires, "order", order}
	body := backupsBody{
		Scope: sc, Filter: f, List: h.backupList(sc, out.Backups, now),
		States: []string{api.BackupStateCreateInProgress, api.BackupStateReady, api.BackupStatePendingDeletion, api.BackupStateDeleted},
	}
	if out.NextToken != nil {
		body.Next = sc.Link("backups", append(filter, "token", *out.NextToken)...)
	}
	if token != "" {
		body.First = sc.Link("backups", filter...)
	}
	return view{Title: "Backups", Nav: "backups", template: "backups", Body: body}, nil
}

// backupBody is a backup page's data.
type backupBody struct {
	Scope    scope
	Backup   backupRow
	Timeline timeline
	Tags     []tag
}

func (h *handler) backup(r *http.Request) (view, error) {
	sc, err := h.scopeOf(r)
	if err != nil {
		return view{}, err
	}
	id := r.PathValue("id")
	out, err := invoke(r.Context(), sc, &api.DescribeBackupsRequest{Filters: map[string][]string{"backupIds": {id}}}, h.cfg.Service.DescribeBackups)
	if err != nil {
		return view{}, err
	}
	if len(out.Backups) == 0 {
		return view{}, statusError{http.StatusNotFound, fmt.Sprintf("Account %s has no backup %s in %s (a DELETED backup is listed for the tombstone period, then gone).", sc.Account, api.Clip(id), sc.Region)}
	}
	now, err := h.cfg.Service.VirtualNow(r.Context())
	if err != nil {
		return view{}, err
	}
	b := out.Backups[0]
	ev := h.events(b)
	body := backupBody{Scope: sc, Backup: h.newBackupRow(sc, b, now, axisFor([]events{ev}, now, 240)), Tags: tags(b.TagList),
		Timeline: drawTimeline(ev, now, axisFor([]events{ev}, now, 960), true)}
	return view{Title: "Backup " + id, Nav: "backups", template: "backup", Body: body}, nil
}

// requestsShown is how many requests the Requests page shows.
const requestsShown = 100

// requestsBody is the Requests page's data.
type requestsBody struct {
	Enabled  bool         `json:"enabled"`
	Requests []requestRow `json:"requests"`
}

func (h *handler) requests(*http.Request) (view, error) {
	body := requestsBody{Enabled: h.cfg.Requests != nil, Requests: h.recentRequests()}
	return view{Title: "Requests", Nav: "requests", template: "requests", Script: "requests.js", Body: body}, nil
}

// requestsJSON answers the Requests page's script: the same rows as the page, as JSON.
func (h *handler) requestsJSON(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, requestsBody{Enabled: h.cfg.Requests != nil, Requests: h.recentRequests()})
}

// recentRequests returns the newest requests as the page shows them.
func (h *handler) recentRequests() []requestRow {
	if h.cfg.Requests == nil {
		return nil
	}
	var rows []requestRow
	for _, req := range h.cfg.Requests.Recent(requestsShown) {
		rows = append(rows, newRequestRow(req))
	}
	return rows
}

package logql_test

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/sightline/sightline/internal/query/logql"
	"github.com/sightline/sightline/internal/query/logql/lokijson"
	"github.com/sightline/sightline/internal/query/logql/memsource"
)

func ExampleEngine_Query() {
	src := memsource.New()
	for i, lvl := range []string{"info", "error", "error"} {
		src.Add("tenant-a", logql.Entry{
			Timestamp: int64(i+1) * int64(time.Second),
			Line:      fmt.Sprintf(`{"level":%q,"msg":"m%d"}`, lvl, i),
			Labels:    labels.FromStrings("app", "shop"),
		})
	}
	eng, err := logql.NewEngine(src, logql.DefaultOptions())
	if err != nil {
		panic(err)
	}
	res, err := eng.Query(context.Background(),
		`sum by (level) (count_over_time({app="shop"} | json [1m]))`,
		logql.Params{Tenant: "tenant-a", Start: time.Unix(60, 0), End: time.Unix(60, 0)})
	if err != nil {
		panic(err)
	}
	fmt.Println(string(lokijson.AppendResult(nil, res)))

	expr, _ := logql.ParseExpr(`{app="shop"}|json|level="error"`)
	fmt.Println(expr.String())
	// Output:
	// [{"metric":{"level":"error"},"value":[60,"2"]},{"metric":{"level":"info"},"value":[60,"1"]}]
	// {app="shop"} | json | level="error"
}

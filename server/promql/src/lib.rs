//! PromQL evaluation with Prometheus 2.42's semantics, over any [`Querier`].
//!
//! A query runs in three steps: parse with `promql-parser`; [`plan`] walks the tree and fetches
//! every selector's series for the whole time range it needs (offset, `@`, range, subquery and
//! the 5-minute lookback) through the async `Querier`; then evaluation is synchronous, one
//! timestamp at a time, as Prometheus' range evaluation is defined.
//!
//! - [`by_series`]: the fast path of range queries whose output series each follow one input; a
//!   range function over one selector is computed inside the store as it reads each series.
//! - [`eval`]: the evaluator: literals, selectors (lookback, staleness), subqueries, dispatch.
//! - [`functions`]: function calls on instant vectors and scalars, and the label functions.
//! - [`range_fns`]: the arithmetic of functions over range vectors (`rate`, `*_over_time`, ...).
//! - [`extrapolate`]: `rate`'s extrapolation to the range's edges, for one window or a block.
//! - [`histogram`]: `histogram_quantile` over classic `le` buckets.
//! - [`aggregate`]: `sum`, `avg`, `topk`, `count_values`, ... with `by` / `without`.
//! - [`binary`]: arithmetic, comparison and set operators with vector matching.
//! - [`error`]: the error type, `QueryError`.
//! - [`float`]: floats printed as Prometheus prints them.
//! - [`limits`]: the query timeout, the most samples a query may hold, the most queries at once.
//! - [`depth`]: the bound on how deeply a query nests, checked before parsing.
//! - [`priority`]: query threads yield the CPU to ingest and health (a higher nice value).

mod aggregate;
mod binary;
mod by_series;
mod depth;
mod error;
mod eval;
mod extrapolate;
mod float;
mod functions;
mod histogram;
mod limits;
mod plan;
mod priority;
mod range_fns;

pub use float::{format_float, write_float};

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use promql_parser::parser::{self, Expr, VectorSelector, value::ValueType};

pub use error::QueryError;
pub use functions::labels::valid_label_name;
use limits::Budget;
pub use limits::QueryLimits;

use warroom_tsdb::model::{Labels, Sample, Series};
use warroom_tsdb::store::Querier;

/// How far back an instant selector looks for a sample (Prometheus' default lookback delta).
pub const LOOKBACK_MS: i64 = 5 * 60 * 1000;

/// The step of a subquery written without one (Prometheus' default evaluation interval).
pub const DEFAULT_SUBQUERY_STEP_MS: i64 = 60 * 1000;

/// One element of an instant vector: a label set and its value at the evaluation time.
#[derive(Clone, Debug, PartialEq)]
pub struct Element {
    /// The series' labels (the metric name is dropped where Prometheus drops it).
    pub labels: Labels,
    /// The value.
    pub v: f64,
}

/// The result of evaluating an expression at one timestamp.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A float.
    Scalar(f64),
    /// A string literal.
    String(String),
    /// An instant vector.
    Vector(Vec<Element>),
    /// A range vector: series with their samples in the selected range.
    Matrix(Vec<Series>),
}

impl Value {
    /// Prometheus' name for the type, as used in `resultType` and error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Scalar(_) => "scalar",
            Value::String(_) => "string",
            Value::Vector(_) => "vector",
            Value::Matrix(_) => "matrix",
        }
    }
}

/// Evaluates PromQL against one [`Querier`]. Each query runs on a thread of its own, not an
/// async worker, below ingest's priority (unless [`Engine::at_full_priority`]), within its
/// [`QueryLimits`]: at most `max_concurrency` at once (the rest wait their
/// turn within their timeout), and a query still running at its deadline is answered with the
/// timeout error at once while its thread stops at the evaluator's next check.
#[derive(Clone)]
pub struct Engine {
    querier: Arc<dyn Querier>,
    limits: QueryLimits,
    turns: Arc<Semaphore>,
    /// Whether its query threads run below ingest ([`priority`]).
    yields: bool,
}

/// The stack of a query's thread: parsing, planning and evaluating recurse once per level of
/// nesting, and a query nested to the bound [`depth`] allows (1,000) takes about 4.5 MiB in a
/// debug build (a quarter of that in release). Only the pages a query touches are resident.
const QUERY_STACK_BYTES: usize = 16 << 20;

/// How long past its deadline a query's answer is awaited before it is abandoned: the
/// evaluator checks the deadline between steps, so a query overruns it by one step at most.
const ABANDON_AFTER: Duration = Duration::from_millis(250);

impl Engine {
    /// An engine reading from `querier`, with Prometheus' default limits.
    pub fn new(querier: Arc<dyn Querier>) -> Self {
        Self::with_limits(querier, QueryLimits::default())
    }

    /// An engine reading from `querier` within `limits`.
    pub fn with_limits(querier: Arc<dyn Querier>, limits: QueryLimits) -> Self {
        let turns = Arc::new(Semaphore::new(limits.max_concurrency.max(1)));
        Self {
            querier,
            limits,
            turns,
            yields: true,
        }
    }

    /// The same engine with its query threads at the caller's priority instead of below
    /// ingest's: for rule evaluation, whose alerts page people and must not wait on a busy
    /// ingest as an ad hoc query may.
    pub fn at_full_priority(mut self) -> Self {
        self.yields = false;
        self
    }

    /// The same engine, sharing its turns, with a timeout no longer than `timeout` (the
    /// `timeout` parameter of Prometheus' query API).
    pub fn with_timeout(&self, timeout: Duration) -> Self {
        let mut shorter = self.clone();
        shorter.limits.timeout = shorter.limits.timeout.min(timeout);
        shorter
    }

    /// Evaluates `query` at `time_ms`, as `/api/v1/query` does.
    pub async fn instant(&self, query: &str, time_ms: i64) -> Result<Value, QueryError> {
        let query = query.to_owned();
        self.bounded(move |engine, budget| {
            Box::pin(async move { engine.instant_here(&query, time_ms, &budget).await })
        })
        .await
    }

    /// Evaluates `query` at every step from `start_ms` to `end_ms`, as `/api/v1/query_range`
    /// does: series sorted by labels; a scalar becomes one series without labels.
    pub async fn range(
        &self,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<Vec<Series>, QueryError> {
        let query = query.to_owned();
        self.bounded(move |engine, budget| {
            Box::pin(async move {
                engine
                    .range_here(&query, start_ms, end_ms, step_ms, &budget)
                    .await
            })
        })
        .await
    }

    /// Runs `work` on a thread of its own, below ingest's priority, once a turn is free,
    /// within the timeout (the wait included) and the sample limit.
    async fn bounded<T: Send + 'static>(
        &self,
        work: impl FnOnce(Engine, Budget) -> BoxFuture<Result<T, QueryError>> + Send + 'static,
    ) -> Result<T, QueryError> {
        let deadline = limits::Deadline::after(self.limits.timeout);
        let until = |d: limits::Deadline, extra: Duration| {
            d.instant().map_or(
                tokio::time::Instant::now() + Duration::from_secs(86_400 * 365),
                |at| at + extra,
            )
        };
        let turn = tokio::time::timeout_at(
            until(deadline, Duration::ZERO),
            Arc::clone(&self.turns).acquire_owned(),
        )
        .await
        .map_err(|_| QueryError::timeout())?
        .map_err(|_| QueryError::timeout())?;
        let budget = Budget::new(deadline, self.limits.max_samples);
        let (engine, runtime) = (self.clone(), tokio::runtime::Handle::current());
        let yields = self.yields;
        let (answer, answered) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("query".into())
            .stack_size(QUERY_STACK_BYTES)
            .spawn(move || {
                let _turn = turn;
                if yields {
                    priority::yield_to_ingest();
                }
                // The receiver is gone only when the query was abandoned at its deadline.
                let _ = answer.send(runtime.block_on(work(engine, budget)));
            })
            .map_err(|e| QueryError::exec(format!("no thread to run the query on: {e}")))?;
        match tokio::time::timeout_at(until(deadline, ABANDON_AFTER), answered).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err(QueryError::exec("query evaluation ended without an answer")),
            Err(_) => Err(QueryError::timeout()),
        }
    }

    /// Fetches what `expr` reads from `start` to `end`, within the budget.
    async fn fetch(
        &self,
        expr: &Expr,
        start: i64,
        end: i64,
        budget: &Budget,
    ) -> Result<plan::Fetched, QueryError> {
        // The store counts what it decodes against the limit, so a selector over far too much
        // fails as soon as it passes it rather than once all of it is in memory.
        let fetch = plan::fetch(self.querier.as_ref(), expr, start, end);
        let fetch = warroom_tsdb::store::limit::within(self.limits.max_samples, fetch);
        let data = within(budget, fetch).await?;
        limits::check_samples(data.samples(), self.limits.max_samples)?;
        Ok(data)
    }

    async fn instant_here(
        &self,
        query: &str,
        time_ms: i64,
        budget: &Budget,
    ) -> Result<Value, QueryError> {
        let expr = parse(query)?;
        let mut data = self.fetch(&expr, time_ms, time_ms, budget).await?;
        if let Expr::VectorSelector(vs) = functions::unwrap_parens(&expr) {
            return Ok(Value::Vector(instant_selector(vs, data.take(vs), time_ms)));
        }
        let evaluator = eval::Evaluator::new(&data, time_ms, time_ms, budget);
        let value = evaluator.eval(&expr, time_ms)?;
        if let Value::Vector(v) = &value {
            eval::check_unique(v)?;
        }
        Ok(value)
    }

    async fn range_here(
        &self,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
        budget: &Budget,
    ) -> Result<Vec<Series>, QueryError> {
        let expr = parse(query)?;
        check_range_type(&expr)?;
        if step_ms <= 0 || end_ms < start_ms {
            return Err(QueryError::BadData("invalid range or step".into()));
        }
        let steps = by_series::Steps {
            start: start_ms,
            end: end_ms,
            step: step_ms,
        };
        let mapped = by_series::mapped(self.querier.as_ref(), &expr, steps, budget);
        if let Some(series) = within(budget, mapped).await? {
            return Ok(series);
        }
        let mut data = self.fetch(&expr, start_ms, end_ms, budget).await?;
        if let Some(series) = by_series::take_selector(&expr, &mut data, steps, budget) {
            return series;
        }
        let evaluator = eval::Evaluator::new(&data, start_ms, end_ms, budget);
        by_steps(&evaluator, &expr, steps)
    }
}

type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

/// Awaits a read from the store, failing with the timeout error at the budget's deadline.
async fn within<T>(
    budget: &Budget,
    read: impl std::future::Future<Output = Result<T, QueryError>>,
) -> Result<T, QueryError> {
    match budget.deadline().instant() {
        Some(at) => tokio::time::timeout_at(at, read)
            .await
            .map_err(|_| QueryError::timeout())?,
        None => read.await,
    }
}

/// The general range evaluation: `expr` at every step, the results merged by labels; each
/// step checks the deadline and holds its points in the budget.
fn by_steps(
    evaluator: &eval::Evaluator<'_>,
    expr: &Expr,
    steps: by_series::Steps,
) -> Result<Vec<Series>, QueryError> {
    let budget = evaluator.budget();
    let mut out: BTreeMap<Labels, Vec<Sample>> = BTreeMap::new();
    let mut next = Some(steps.start);
    while let Some(t) = next.filter(|&t| t <= steps.end) {
        budget.check_time()?;
        let made = append_step(&mut out, evaluator.eval(expr, t)?, t)?;
        budget.hold(made)?;
        next = t.checked_add(steps.step);
    }
    Ok(out
        .into_iter()
        .map(|(labels, samples)| Series { labels, samples })
        .collect())
}

/// A query that is one selector, evaluated at `t` from its own series, whose label sets move
/// into the result instead of being copied; the store's label sets are distinct, so there is
/// nothing to check for duplicates.
fn instant_selector(vs: &VectorSelector, series: Vec<Series>, t: i64) -> Vec<Element> {
    let t = plan::shift(vs.at.as_ref(), vs.offset.as_ref(), t, t, (t, t)).0;
    series
        .into_iter()
        .filter_map(|s| {
            let v = eval::newest(&s.samples, t)?.v;
            Some(Element {
                labels: s.labels,
                v,
            })
        })
        .collect()
}

/// Parses a series selector such as `up{job="node"}` (the API's `match[]`) into store matchers.
pub fn parse_selector(selector: &str) -> Result<Vec<warroom_tsdb::model::Matcher>, QueryError> {
    match parse(selector)? {
        Expr::VectorSelector(vs) => plan::matchers(&vs),
        _ => Err(QueryError::BadData(format!(
            "invalid parameter \"match[]\": {selector:?} is not a series selector"
        ))),
    }
}

/// Parses a query, turning the parser's message into a `bad_data` error.
fn parse(query: &str) -> Result<Expr, QueryError> {
    depth::check(query)?;
    parser::parse(query).map_err(|e| QueryError::BadData(format!("parse error: {e}")))
}

/// A range query must produce a scalar or an instant vector.
fn check_range_type(expr: &Expr) -> Result<(), QueryError> {
    match expr.value_type() {
        ValueType::Scalar | ValueType::Vector => Ok(()),
        other => Err(QueryError::BadData(format!(
            "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
            match other {
                ValueType::Matrix => "range vector",
                _ => "string",
            }
        ))),
    }
}

/// Adds one step's result to the range query's series; how many points it added.
fn append_step(
    out: &mut BTreeMap<Labels, Vec<Sample>>,
    value: Value,
    t: i64,
) -> Result<usize, QueryError> {
    match value {
        Value::Scalar(v) => {
            out.entry(Labels::default())
                .or_default()
                .push(Sample { t, v });
            Ok(1)
        }
        Value::Vector(elements) => {
            eval::check_unique(&elements)?;
            let n = elements.len();
            for e in elements {
                out.entry(e.labels).or_default().push(Sample { t, v: e.v });
            }
            Ok(n)
        }
        other => Err(QueryError::exec(format!(
            "unexpected {} result in range query",
            other.type_name()
        ))),
    }
}

#[cfg(test)]
mod tests;

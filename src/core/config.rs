//! Options as the page hands them (JSON text from the driver) → a validated [`GuardConfig`].
//!
//! ```
//! use resource_guard::core::config::GuardConfig;
//! let cfg = GuardConfig::from_json(r#"{"rateLimit":{"requests":10,"perMs":1000}}"#).unwrap();
//! assert_eq!(cfg.category("api").unwrap().rate.unwrap().requests, 10);
//! let err = GuardConfig::from_json(r#"{"retry":{"baseDelayMs":500,"maxDelayMs":100}}"#).unwrap_err();
//! assert_eq!(err.message(), "invalid option: retry.maxDelayMs must be >= retry.baseDelayMs");
//! ```
//!
//! Every rule names the JS option path. Unknown keys are rejected. Numbers are bounded so that no
//! option can make the guard wait past a browser timer or allocate without bound.

use super::defaults as d;
use super::error::GuardError;
use super::json::{self, Value};
use super::time::MAX_TIMER_MS;

/// Most requests per window (the sliding log keeps one timestamp per request in the window).
pub const MAX_REQUESTS_PER_WINDOW: u32 = 100_000;
/// Most waiting entries per category queue.
pub const MAX_QUEUE_DEPTH: u32 = 100_000;
/// Most named categories.
pub const MAX_CATEGORIES: usize = 64;

/// A sliding rate limit: at most `requests` starts in any window of `per_ms`, at most `burst`
/// back to back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateSpec {
    /// Starts per window.
    pub requests: u32,
    /// Window length in ms.
    pub per_ms: u64,
    /// Starts allowed back to back (≤ `requests`).
    pub burst: u32,
}

/// One category: its own rate limit, queue and bulkhead.
#[derive(Clone, Debug, PartialEq)]
pub struct CategoryConfig {
    /// Its name (`api`, `upload`, `jobs` or the user's).
    pub name: String,
    /// Its rate limit; `None` for none (`jobs` by default).
    pub rate: Option<RateSpec>,
    /// Most in flight at once; `None` for no cap.
    pub max_concurrent: Option<u32>,
}

/// Jitter shapes for backoff.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JitterKind {
    /// `delay ± jitter·delay` (the default).
    Proportional,
    /// Uniform in `[0, delay]` (AWS "full jitter").
    Full,
    /// Uniform in `[base, previous·3]`, capped (AWS "decorrelated jitter").
    Decorrelated,
}

/// Retry rules.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryConfig {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// First delay, ms.
    pub base_delay_ms: u64,
    /// Longest delay, ms.
    pub max_delay_ms: u64,
    /// Growth factor (≥ 1).
    pub multiplier: f64,
    /// Jitter fraction in `[0, 1]`.
    pub jitter: f64,
    /// Jitter shape.
    pub jitter_kind: JitterKind,
    /// Retryable statuses.
    pub status_codes: Vec<u16>,
    /// Methods retried without an Idempotency-Key (upper case).
    pub methods: Vec<String>,
    /// Longest honoured server hint, ms.
    pub max_retry_after_ms: u64,
    /// Retry budget: retries ≤ ratio × requests over the window.
    pub budget_ratio: f64,
    /// Retries always allowed per second.
    pub budget_min_per_sec: u32,
}

/// Breaker thresholds for one service (or the default).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BreakerSpec {
    /// Consecutive failures that open it.
    pub failure_threshold: u32,
    /// Open time before a probe, ms.
    pub reset_timeout_ms: u64,
    /// Probes while half-open.
    pub half_open_probes: u32,
}

/// Heap guard settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HeapConfig {
    /// Budget in bytes.
    pub budget_bytes: u64,
    /// Sampling interval, ms.
    pub sample_interval_ms: u64,
    /// Fractions of the budget for warning / critical / limit.
    pub warning: f64,
    /// See `warning`.
    pub critical: f64,
    /// See `warning`.
    pub limit: f64,
    /// Clearing margin (fraction of the budget).
    pub hysteresis: f64,
    /// Randomise the interval (Poisson), as advised for `measureUserAgentSpecificMemory`.
    pub randomize: bool,
    /// Long tasks per window that raise main-thread pressure.
    pub long_task_threshold: u32,
    /// Window for long tasks, ms.
    pub long_task_window_ms: u64,
}

/// Response cache settings (present only when the user opted in).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheConfig {
    /// Byte budget.
    pub max_bytes: u64,
    /// Entry budget.
    pub max_entries: u32,
    /// Oldest entry served or kept, ms.
    pub max_stale_ms: u64,
}

/// Breach reporter settings (present only with an endpoint).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportConfig {
    /// Where reports go.
    pub endpoint: String,
    /// Whether a cross-origin endpoint is allowed (checked by the driver, which knows the origin).
    pub allow_cross_origin: bool,
    /// Report requests per minute.
    pub max_per_minute: u32,
    /// Flush interval, ms.
    pub flush_interval_ms: u64,
    /// Keep query strings and fragments in reported URLs.
    pub keep_url_query: bool,
}

/// The validated configuration. Built only by [`GuardConfig::from_json`] / [`GuardConfig::from_value`].
#[derive(Clone, Debug, PartialEq)]
pub struct GuardConfig {
    /// Categories; `api`, `upload` and `jobs` always exist.
    pub categories: Vec<CategoryConfig>,
    /// Default timeout of a job, ms.
    pub jobs_timeout_ms: u64,
    /// Queue depth per category.
    pub queue_max_depth: u32,
    /// Default queue wait limit, ms.
    pub queue_timeout_ms: Option<u64>,
    /// Retry rules.
    pub retry: RetryConfig,
    /// Default breaker.
    pub breaker: BreakerSpec,
    /// Per-service breakers.
    pub breaker_services: Vec<(String, BreakerSpec)>,
    /// Heap guard.
    pub heap: HeapConfig,
    /// Response cache, if enabled.
    pub cache: Option<CacheConfig>,
    /// Breach reporter, if enabled.
    pub report: Option<ReportConfig>,
}

impl GuardConfig {
    /// Looks a category up by name.
    #[must_use]
    pub fn category(&self, name: &str) -> Option<&CategoryConfig> {
        self.categories.iter().find(|c| c.name == name)
    }

    /// Breaker thresholds for `service`.
    #[must_use]
    pub fn breaker_for(&self, service: &str) -> BreakerSpec {
        self.breaker_services
            .iter()
            .find(|(k, _)| k == service)
            .map_or(self.breaker, |(_, s)| *s)
    }

    /// Parses and validates options given as JSON text (the driver passes `JSON.stringify(options)`,
    /// with functions replaced by a marker so that they are reported instead of silently dropped).
    ///
    /// # Errors
    /// [`GuardError::InvalidOption`] naming the offending path.
    pub fn from_json(text: &str) -> Result<GuardConfig, GuardError> {
        if text.trim().is_empty() {
            return GuardConfig::from_value(&Value::Obj(Vec::new()));
        }
        let v = json::parse(text).map_err(|e| GuardError::invalid_option("", e.reason))?;
        GuardConfig::from_value(&v)
    }

    /// Validates an already parsed options object.
    ///
    /// # Errors
    /// [`GuardError::InvalidOption`] naming the offending path.
    pub fn from_value(v: &Value) -> Result<GuardConfig, GuardError> {
        let root = Obj::new(v, "")?;
        root.only(&[
            "rateLimit",
            "categories",
            "jobs",
            "queue",
            "retry",
            "breaker",
            "heap",
            "cache",
            "report",
        ])?;

        let api_rate = match root.obj("rateLimit")? {
            Some(o) => rate_spec(&o, d::RATE_LIMIT_REQUESTS, d::RATE_LIMIT_PER_MS)?,
            None => RateSpec {
                requests: d::RATE_LIMIT_REQUESTS,
                per_ms: d::RATE_LIMIT_PER_MS,
                burst: d::RATE_LIMIT_REQUESTS,
            },
        };

        let (jobs_max, jobs_timeout_ms) = match root.obj("jobs")? {
            Some(o) => {
                o.only(&["maxConcurrent", "timeoutMs"])?;
                (
                    o.int("maxConcurrent", 1, 10_000)?
                        .map_or(d::JOBS_MAX_CONCURRENT, |n| n as u32),
                    o.int("timeoutMs", 1, MAX_TIMER_MS)?
                        .unwrap_or(d::JOBS_TIMEOUT_MS),
                )
            }
            None => (d::JOBS_MAX_CONCURRENT, d::JOBS_TIMEOUT_MS),
        };

        let mut categories = vec![
            CategoryConfig {
                name: d::DEFAULT_CATEGORY.into(),
                rate: Some(api_rate),
                max_concurrent: None,
            },
            CategoryConfig {
                name: d::UPLOAD_CATEGORY.into(),
                rate: Some(RateSpec {
                    requests: d::UPLOAD_REQUESTS,
                    per_ms: d::RATE_LIMIT_PER_MS,
                    burst: d::UPLOAD_REQUESTS,
                }),
                max_concurrent: None,
            },
            CategoryConfig {
                name: d::JOBS_CATEGORY.into(),
                rate: None,
                max_concurrent: Some(jobs_max),
            },
        ];
        if let Some(cats) = root.obj("categories")? {
            if cats.members().len() > MAX_CATEGORIES {
                return Err(cats.error("", "has too many categories (at most 64)"));
            }
            for (name, _) in cats.members() {
                if name.is_empty() || name.len() > 64 {
                    return Err(cats.error(name, "must be a category name of 1 to 64 characters"));
                }
                let o = cats
                    .obj(name)?
                    .ok_or_else(|| cats.error(name, "must be an object"))?;
                o.only(&["requests", "perMs", "burst", "maxConcurrent"])?;
                let existing = categories.iter().position(|c| c.name == *name);
                let inherited = existing
                    .and_then(|i| categories[i].rate)
                    .unwrap_or(api_rate);
                let rate = if o.has("requests") || o.has("perMs") || o.has("burst") {
                    Some(rate_spec(&o, inherited.requests, inherited.per_ms)?)
                } else {
                    existing.map_or(Some(api_rate), |i| categories[i].rate)
                };
                let max_concurrent = match o.int("maxConcurrent", 1, 10_000)? {
                    Some(n) => Some(n as u32),
                    None => existing.and_then(|i| categories[i].max_concurrent),
                };
                let c = CategoryConfig {
                    name: name.clone(),
                    rate,
                    max_concurrent,
                };
                match existing {
                    Some(i) => categories[i] = c,
                    None => categories.push(c),
                }
            }
        }

        let (queue_max_depth, queue_timeout_ms) = match root.obj("queue")? {
            Some(o) => {
                o.only(&["maxDepth", "timeoutMs"])?;
                (
                    o.int("maxDepth", 1, u64::from(MAX_QUEUE_DEPTH))?
                        .map_or(d::QUEUE_MAX_DEPTH, |n| n as u32),
                    o.int("timeoutMs", 1, MAX_TIMER_MS)?,
                )
            }
            None => (d::QUEUE_MAX_DEPTH, None),
        };

        let retry = retry_config(root.obj("retry")?)?;
        let (breaker, breaker_services) = breaker_config(root.obj("breaker")?)?;
        let heap = heap_config(root.obj("heap")?)?;

        let cache = match root.obj("cache")? {
            Some(o) => {
                o.only(&["maxBytes", "maxEntries", "maxStaleMs"])?;
                Some(CacheConfig {
                    max_bytes: o.int("maxBytes", 1, 1 << 40)?.unwrap_or(d::CACHE_MAX_BYTES),
                    max_entries: o
                        .int("maxEntries", 1, 100_000)?
                        .map_or(d::CACHE_MAX_ENTRIES, |n| n as u32),
                    max_stale_ms: o
                        .int("maxStaleMs", 1, 1 << 53)?
                        .unwrap_or(d::CACHE_MAX_STALE_MS),
                })
            }
            None => None,
        };

        let report = match root.obj("report")? {
            Some(o) => {
                o.only(&[
                    "endpoint",
                    "allowCrossOrigin",
                    "maxPerMinute",
                    "flushIntervalMs",
                    "keepUrlQuery",
                ])?;
                match o.string("endpoint")? {
                    None => None,
                    Some(endpoint) => {
                        if endpoint.is_empty() || endpoint.len() > 2048 {
                            return Err(
                                o.error("endpoint", "must be a URL of 1 to 2048 characters")
                            );
                        }
                        Some(ReportConfig {
                            endpoint: endpoint.to_owned(),
                            allow_cross_origin: o.boolean("allowCrossOrigin")?.unwrap_or(false),
                            max_per_minute: o
                                .int("maxPerMinute", 1, 600)?
                                .map_or(d::REPORT_MAX_PER_MINUTE, |n| n as u32),
                            flush_interval_ms: o
                                .int("flushIntervalMs", 100, MAX_TIMER_MS)?
                                .unwrap_or(d::REPORT_FLUSH_INTERVAL_MS),
                            keep_url_query: o.boolean("keepUrlQuery")?.unwrap_or(false),
                        })
                    }
                }
            }
            None => None,
        };

        Ok(GuardConfig {
            categories,
            jobs_timeout_ms,
            queue_max_depth,
            queue_timeout_ms,
            retry,
            breaker,
            breaker_services,
            heap,
            cache,
            report,
        })
    }
}

fn rate_spec(
    o: &Obj<'_>,
    default_requests: u32,
    default_per_ms: u64,
) -> Result<RateSpec, GuardError> {
    o.only(&["requests", "perMs", "burst", "maxConcurrent"])?;
    let requests = o
        .int("requests", 1, u64::from(MAX_REQUESTS_PER_WINDOW))?
        .map_or(default_requests, |n| n as u32);
    let per_ms = o.int("perMs", 1, MAX_TIMER_MS)?.unwrap_or(default_per_ms);
    let burst = o
        .int("burst", 1, u64::from(MAX_REQUESTS_PER_WINDOW))?
        .map_or(requests, |n| n as u32);
    if burst > requests {
        return Err(o.error("burst", "must be <= requests"));
    }
    Ok(RateSpec {
        requests,
        per_ms,
        burst,
    })
}

fn retry_config(o: Option<Obj<'_>>) -> Result<RetryConfig, GuardError> {
    let mut r = RetryConfig {
        max_retries: d::RETRY_MAX_RETRIES,
        base_delay_ms: d::RETRY_BASE_DELAY_MS,
        max_delay_ms: d::RETRY_MAX_DELAY_MS,
        multiplier: d::RETRY_MULTIPLIER,
        jitter: d::RETRY_JITTER,
        jitter_kind: JitterKind::Proportional,
        status_codes: d::RETRY_STATUS_CODES.to_vec(),
        methods: d::RETRY_METHODS.iter().map(|m| (*m).to_owned()).collect(),
        max_retry_after_ms: d::RETRY_MAX_RETRY_AFTER_MS,
        budget_ratio: d::RETRY_BUDGET_RATIO,
        budget_min_per_sec: d::RETRY_BUDGET_MIN_PER_SEC,
    };
    let Some(o) = o else { return Ok(r) };
    o.only(&[
        "maxRetries",
        "baseDelayMs",
        "maxDelayMs",
        "multiplier",
        "jitter",
        "jitterKind",
        "statusCodes",
        "methods",
        "maxRetryAfterMs",
        "budgetRatio",
        "budgetMinPerSec",
    ])?;
    if let Some(n) = o.int("maxRetries", 0, 20)? {
        r.max_retries = n as u32;
    }
    if let Some(n) = o.int("baseDelayMs", 0, MAX_TIMER_MS)? {
        r.base_delay_ms = n;
        if !o.has("maxDelayMs") && r.max_delay_ms < n {
            r.max_delay_ms = n;
        }
    }
    if let Some(n) = o.int("maxDelayMs", 0, MAX_TIMER_MS)? {
        r.max_delay_ms = n;
    }
    if r.max_delay_ms < r.base_delay_ms {
        return Err(o.error("maxDelayMs", "must be >= retry.baseDelayMs"));
    }
    if let Some(x) = o.num("multiplier", 1.0, 10.0)? {
        r.multiplier = x;
    }
    if let Some(x) = o.num("jitter", 0.0, 1.0)? {
        r.jitter = x;
    }
    if let Some(s) = o.string("jitterKind")? {
        r.jitter_kind = match s {
            "proportional" => JitterKind::Proportional,
            "full" => JitterKind::Full,
            "decorrelated" => JitterKind::Decorrelated,
            _ => {
                return Err(o.error(
                    "jitterKind",
                    "must be 'proportional', 'full' or 'decorrelated'",
                ))
            }
        };
    }
    if let Some(items) = o.array("statusCodes", 100)? {
        let mut codes = Vec::with_capacity(items.len());
        for (i, it) in items.iter().enumerate() {
            match it.as_f64() {
                Some(n) if n.fract() == 0.0 && (100.0..=599.0).contains(&n) => codes.push(n as u16),
                _ => {
                    return Err(o.error_at("statusCodes", i, "must be an HTTP status (100 to 599)"))
                }
            }
        }
        r.status_codes = codes;
    }
    if let Some(items) = o.array("methods", 32)? {
        let mut ms = Vec::with_capacity(items.len());
        for (i, it) in items.iter().enumerate() {
            match it.as_str() {
                Some(s)
                    if !s.is_empty()
                        && s.len() <= 32
                        && s.bytes().all(|b| b.is_ascii_alphabetic()) =>
                {
                    ms.push(s.to_ascii_uppercase());
                }
                _ => return Err(o.error_at("methods", i, "must be an HTTP method name")),
            }
        }
        r.methods = ms;
    }
    if let Some(n) = o.int("maxRetryAfterMs", 0, MAX_TIMER_MS)? {
        r.max_retry_after_ms = n;
    }
    if let Some(x) = o.num("budgetRatio", 0.0, 10.0)? {
        r.budget_ratio = x;
    }
    if let Some(n) = o.int("budgetMinPerSec", 0, 1000)? {
        r.budget_min_per_sec = n as u32;
    }
    Ok(r)
}

fn breaker_spec(o: &Obj<'_>, base: BreakerSpec) -> Result<BreakerSpec, GuardError> {
    Ok(BreakerSpec {
        failure_threshold: o
            .int("failureThreshold", 1, 1000)?
            .map_or(base.failure_threshold, |n| n as u32),
        reset_timeout_ms: o
            .int("resetTimeoutMs", 1, MAX_TIMER_MS)?
            .unwrap_or(base.reset_timeout_ms),
        half_open_probes: o
            .int("halfOpenProbes", 1, 100)?
            .map_or(base.half_open_probes, |n| n as u32),
    })
}

fn breaker_config(
    o: Option<Obj<'_>>,
) -> Result<(BreakerSpec, Vec<(String, BreakerSpec)>), GuardError> {
    let mut spec = BreakerSpec {
        failure_threshold: d::BREAKER_FAILURE_THRESHOLD,
        reset_timeout_ms: d::BREAKER_RESET_TIMEOUT_MS,
        half_open_probes: d::BREAKER_HALF_OPEN_PROBES,
    };
    let mut services = Vec::new();
    let Some(o) = o else {
        return Ok((spec, services));
    };
    o.only(&[
        "failureThreshold",
        "resetTimeoutMs",
        "halfOpenProbes",
        "services",
    ])?;
    spec = breaker_spec(&o, spec)?;
    if let Some(s) = o.obj("services")? {
        if s.members().len() > d::MAX_SERVICES {
            return Err(s.error("", "has too many services (at most 256)"));
        }
        for (name, _) in s.members() {
            if name.is_empty() || name.len() > 2048 {
                return Err(s.error(
                    name,
                    "must be a service name or origin of 1 to 2048 characters",
                ));
            }
            let so = s
                .obj(name)?
                .ok_or_else(|| s.error(name, "must be an object"))?;
            so.only(&["failureThreshold", "resetTimeoutMs", "halfOpenProbes"])?;
            services.push((name.clone(), breaker_spec(&so, spec)?));
        }
    }
    Ok((spec, services))
}

fn heap_config(o: Option<Obj<'_>>) -> Result<HeapConfig, GuardError> {
    let mut h = HeapConfig {
        budget_bytes: d::HEAP_BUDGET_BYTES,
        sample_interval_ms: d::HEAP_SAMPLE_INTERVAL_MS,
        warning: d::HEAP_WARNING,
        critical: d::HEAP_CRITICAL,
        limit: d::HEAP_LIMIT,
        hysteresis: d::HEAP_HYSTERESIS,
        randomize: false,
        long_task_threshold: d::LONG_TASK_THRESHOLD,
        long_task_window_ms: d::LONG_TASK_WINDOW_MS,
    };
    let Some(o) = o else { return Ok(h) };
    o.only(&[
        "budgetBytes",
        "sampleIntervalMs",
        "warning",
        "critical",
        "limit",
        "hysteresis",
        "randomize",
        "longTaskThreshold",
        "longTaskWindowMs",
    ])?;
    if let Some(n) = o.int("budgetBytes", 1024, 1 << 50)? {
        h.budget_bytes = n;
    }
    if let Some(n) = o.int("sampleIntervalMs", 50, MAX_TIMER_MS)? {
        h.sample_interval_ms = n;
    }
    if let Some(x) = o.num("warning", 0.01, 4.0)? {
        h.warning = x;
    }
    if let Some(x) = o.num("critical", 0.01, 4.0)? {
        h.critical = x;
    }
    if let Some(x) = o.num("limit", 0.01, 4.0)? {
        h.limit = x;
    }
    if h.critical <= h.warning {
        return Err(o.error("critical", "must be > heap.warning"));
    }
    if h.limit <= h.critical {
        return Err(o.error("limit", "must be > heap.critical"));
    }
    if let Some(x) = o.num("hysteresis", 0.0, 0.5)? {
        h.hysteresis = x;
    }
    if let Some(b) = o.boolean("randomize")? {
        h.randomize = b;
    }
    if let Some(n) = o.int("longTaskThreshold", 1, 10_000)? {
        h.long_task_threshold = n as u32;
    }
    if let Some(n) = o.int("longTaskWindowMs", 100, MAX_TIMER_MS)? {
        h.long_task_window_ms = n;
    }
    Ok(h)
}

/// Marker the JS driver substitutes for functions, symbols and non-finite numbers, so that a
/// misplaced callback is reported rather than dropped by `JSON.stringify`.
pub const UNSERIALIZABLE_MARKER: &str = "\u{0}unserializable";

/// A view of one options object that knows its path, for error messages.
struct Obj<'a> {
    members: &'a [(String, Value)],
    path: String,
}

impl<'a> Obj<'a> {
    fn new(v: &'a Value, path: &str) -> Result<Obj<'a>, GuardError> {
        match v {
            Value::Obj(m) => Ok(Obj {
                members: m,
                path: path.to_owned(),
            }),
            _ => Err(GuardError::invalid_option(
                if path.is_empty() { "options" } else { path },
                "must be an object",
            )),
        }
    }

    fn members(&self) -> &'a [(String, Value)] {
        self.members
    }

    fn join(&self, key: &str) -> String {
        let mut p = String::with_capacity(self.path.len() + key.len() + 1);
        p.push_str(&self.path);
        if !self.path.is_empty() && !key.is_empty() {
            p.push('.');
        }
        p.push_str(key);
        p
    }

    fn error(&self, key: &str, reason: &'static str) -> GuardError {
        GuardError::InvalidOption {
            path: self.join(key),
            reason,
        }
    }

    fn error_at(&self, key: &str, index: usize, reason: &'static str) -> GuardError {
        let mut p = self.join(key);
        p.push('[');
        let mut w = super::json::JsonWriter::new();
        w.u64(index as u64);
        p.push_str(&w.out);
        p.push(']');
        GuardError::InvalidOption { path: p, reason }
    }

    fn only(&self, allowed: &[&str]) -> Result<(), GuardError> {
        match self
            .members
            .iter()
            .find(|(k, _)| !allowed.contains(&k.as_str()))
        {
            Some((k, _)) => Err(self.error(k, "is not a known option")),
            None => Ok(()),
        }
    }

    fn has(&self, key: &str) -> bool {
        self.members
            .iter()
            .any(|(k, v)| k == key && *v != Value::Null)
    }

    /// The value of `key`; `null` counts as absent except that the marker reports itself.
    fn get(&self, key: &str) -> Result<Option<&'a Value>, GuardError> {
        match self
            .members
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
        {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Str(s)) if s == UNSERIALIZABLE_MARKER => Err(self.error(
                key,
                "must be a plain value (not a function, symbol, NaN or Infinity)",
            )),
            Some(v) => Ok(Some(v)),
        }
    }

    fn obj(&self, key: &str) -> Result<Option<Obj<'a>>, GuardError> {
        match self.get(key)? {
            None => Ok(None),
            Some(v) => Obj::new(v, &self.join(key)).map(Some),
        }
    }

    fn int(&self, key: &str, min: u64, max: u64) -> Result<Option<u64>, GuardError> {
        match self.get(key)? {
            None => Ok(None),
            Some(Value::Num(n)) if n.fract() == 0.0 && *n >= min as f64 && *n <= max as f64 => {
                Ok(Some(*n as u64))
            }
            Some(Value::Num(n)) if n.fract() != 0.0 => Err(self.error(key, "must be an integer")),
            Some(Value::Num(n)) if *n < min as f64 => Err(self.error(
                key,
                match min {
                    0 => "must be >= 0",
                    1 => "must be >= 1",
                    _ => "is below its minimum (see the docs)",
                },
            )),
            Some(Value::Num(_)) => Err(self.error(
                key,
                if max == MAX_TIMER_MS {
                    "must be <= 2147483647 (the longest browser timer)"
                } else {
                    "is above its maximum (see the docs)"
                },
            )),
            Some(_) => Err(self.error(key, "must be a number")),
        }
    }

    fn num(&self, key: &str, min: f64, max: f64) -> Result<Option<f64>, GuardError> {
        match self.get(key)? {
            None => Ok(None),
            Some(Value::Num(n)) if *n >= min && *n <= max => Ok(Some(*n)),
            Some(Value::Num(_)) => Err(self.error(key, "is out of range (see the docs)")),
            Some(_) => Err(self.error(key, "must be a number")),
        }
    }

    fn string(&self, key: &str) -> Result<Option<&'a str>, GuardError> {
        match self.get(key)? {
            None => Ok(None),
            Some(Value::Str(s)) => Ok(Some(s)),
            Some(_) => Err(self.error(key, "must be a string")),
        }
    }

    fn boolean(&self, key: &str) -> Result<Option<bool>, GuardError> {
        match self.get(key)? {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.error(key, "must be a boolean")),
        }
    }

    fn array(&self, key: &str, max_len: usize) -> Result<Option<&'a [Value]>, GuardError> {
        match self.get(key)? {
            None => Ok(None),
            Some(Value::Arr(items)) if items.len() <= max_len => Ok(Some(items)),
            Some(Value::Arr(_)) => Err(self.error(key, "has too many items")),
            Some(_) => Err(self.error(key, "must be an array")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(json: &str) -> String {
        GuardConfig::from_json(json).unwrap_err().message()
    }

    #[test]
    fn defaults_match_the_documented_contract() {
        let c = GuardConfig::from_json("{}").unwrap();
        assert_eq!(
            c.category("api").unwrap().rate,
            Some(RateSpec {
                requests: 60,
                per_ms: 60_000,
                burst: 60
            })
        );
        assert_eq!(c.category("upload").unwrap().rate.unwrap().requests, 10);
        assert_eq!(c.category("jobs").unwrap().max_concurrent, Some(5));
        assert_eq!(c.category("jobs").unwrap().rate, None);
        assert_eq!(c.queue_max_depth, 1000);
        assert_eq!(c.retry.max_retries, 3);
        assert_eq!(c.retry.status_codes, vec![408, 429, 500, 502, 503, 504]);
        assert_eq!(c.breaker.failure_threshold, 5);
        assert_eq!(c.heap.budget_bytes, 52_428_800);
        assert_eq!(
            (c.heap.warning, c.heap.critical, c.heap.limit),
            (0.7, 0.9, 1.0)
        );
        assert!(c.cache.is_none() && c.report.is_none());
    }

    #[test]
    fn errors_name_the_option_path() {
        assert_eq!(
            err(r#"{"retry":{"baseDelayMs":500,"maxDelayMs":100}}"#),
            "invalid option: retry.maxDelayMs must be >= retry.baseDelayMs"
        );
        assert_eq!(
            err(r#"{"rateLimit":{"requests":0,"perMs":1000}}"#),
            "invalid option: rateLimit.requests must be >= 1"
        );
        assert_eq!(
            err(r#"{"retyr":{}}"#),
            "invalid option: retyr is not a known option"
        );
        assert_eq!(
            err(r#"{"retry":{"maxRetries":1.5}}"#),
            "invalid option: retry.maxRetries must be an integer"
        );
        assert_eq!(
            err(r#"{"retry":{"statusCodes":[503,"x"]}}"#),
            "invalid option: retry.statusCodes[1] must be an HTTP status (100 to 599)"
        );
        assert_eq!(
            err(r#"{"categories":{"upload":{"burst":20}}}"#),
            "invalid option: categories.upload.burst must be <= requests"
        );
        assert_eq!(
            err(r#"{"heap":{"warning":0.95}}"#),
            "invalid option: heap.critical must be > heap.warning"
        );
        assert_eq!(
            err(r#"{"breaker":{"services":{"https://a":{"resetTimeoutMs":"x"}}}}"#),
            "invalid option: breaker.services.https://a.resetTimeoutMs must be a number"
        );
        assert_eq!(err(r#"{"heap":{"budgetBytes":"\u0000unserializable"}}"#), "invalid option: heap.budgetBytes must be a plain value (not a function, symbol, NaN or Infinity)");
        assert_eq!(err("[]"), "invalid option: options must be an object");
        assert_eq!(
            err(r#"{"queue":{"timeoutMs":1e12}}"#),
            "invalid option: queue.timeoutMs must be <= 2147483647 (the longest browser timer)"
        );
    }

    #[test]
    fn categories_inherit_and_override() {
        let c = GuardConfig::from_json(r#"{"rateLimit":{"requests":30,"perMs":1000},"categories":{"search":{"maxConcurrent":2},"upload":{"requests":5},"api":{"maxConcurrent":4}}}"#).unwrap();
        assert_eq!(c.category("search").unwrap().rate.unwrap().requests, 30);
        assert_eq!(c.category("search").unwrap().max_concurrent, Some(2));
        assert_eq!(
            c.category("upload").unwrap().rate.unwrap(),
            RateSpec {
                requests: 5,
                per_ms: 60_000,
                burst: 5
            }
        );
        assert_eq!(c.category("api").unwrap().rate.unwrap().requests, 30);
        assert_eq!(c.category("api").unwrap().max_concurrent, Some(4));
    }

    #[test]
    fn null_means_default() {
        let c = GuardConfig::from_json(r#"{"retry":{"maxRetries":null},"cache":{}}"#).unwrap();
        assert_eq!(c.retry.max_retries, 3);
        assert_eq!(c.cache.unwrap().max_bytes, 5_242_880);
    }
}

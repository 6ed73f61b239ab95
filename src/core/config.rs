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

/// Adaptive throttling (`adaptive`): SRE client-side throttling and the adaptive rate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdaptiveSpec {
    /// SRE multiplier K (≥ 1): reject with `max(0, (requests − K·accepts)/(requests + 1))`.
    pub k: f64,
    /// Window over which requests and accepts are counted, ms.
    pub window_ms: u64,
    /// Lowest adaptive rate, as a fraction of the configured rate (0..=1].
    pub min_rate: f64,
}

/// The failure-rate mode of a breaker (`breaker.failureRate`): open when at least
/// `minimum_calls` calls in the window failed at `threshold` or more.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FailureRateSpec {
    /// Failure fraction (0..=1] that opens the breaker.
    pub threshold: f64,
    /// Calls in the window before the rate counts.
    pub minimum_calls: u32,
    /// The window: the last `window_calls` calls when non-zero, else the last `window_ms`.
    pub window_calls: u32,
    /// Time window, ms (used when `window_calls` is 0).
    pub window_ms: u64,
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
    /// Store responses to credentialed requests (`Authorization`, or `credentials: 'include'`
    /// cross-origin); `cache.storeCredentialed`, default false.
    pub store_credentialed: bool,
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
    /// Failure-rate mode of the default breaker, when `breaker.failureRate` is given.
    pub breaker_rate: Option<FailureRateSpec>,
    /// Failure-rate modes per service (inheriting the default's keys).
    pub breaker_rate_services: Vec<(String, FailureRateSpec)>,
    /// Adaptive throttling, when `adaptive` is given (off by default).
    pub adaptive: Option<AdaptiveSpec>,
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

    /// The failure-rate mode for `service`, if any.
    #[must_use]
    pub fn breaker_rate_for(&self, service: &str) -> Option<FailureRateSpec> {
        self.breaker_rate_services
            .iter()
            .find(|(k, _)| k == service)
            .map_or(self.breaker_rate, |(_, s)| Some(*s))
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
    /// Checking is table-driven ([`SCHEMA`]): one walker checks every value's type and range and
    /// rejects unknown keys, then the config is assembled from the checked values. (A hand-written
    /// check per option was the largest function in the wasm binary.)
    ///
    /// # Errors
    /// [`GuardError::InvalidOption`] naming the offending path.
    pub fn from_value(v: &Value) -> Result<GuardConfig, GuardError> {
        let Value::Obj(members) = v else {
            return Err(GuardError::invalid_option("options", "must be an object"));
        };
        let mut f = Fields(Vec::new());
        walk(members, "", "", None, &mut f)?;

        let api_rate = rate(
            &f,
            "rateLimit",
            None,
            RateSpec {
                requests: d::RATE_LIMIT_REQUESTS,
                per_ms: d::RATE_LIMIT_PER_MS,
                burst: 0,
            },
        )?;
        let jobs_max = f
            .u32("jobs.maxConcurrent", None)
            .unwrap_or(d::JOBS_MAX_CONCURRENT);
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
        for name in f.instances("categories.*") {
            let existing = categories.iter().position(|c| c.name == name);
            let inherited = existing
                .and_then(|i| categories[i].rate)
                .unwrap_or(api_rate);
            let own_rate = ["requests", "perMs", "burst"]
                .iter()
                .any(|k| f.has_leaf("categories.*.", k, Some(name)));
            let rate_spec = if own_rate {
                let base = RateSpec {
                    burst: 0,
                    ..inherited
                };
                Some(rate(&f, "categories.*", Some(name), base)?)
            } else {
                existing.map_or(Some(api_rate), |i| categories[i].rate)
            };
            let max_concurrent = f
                .u32("categories.*.maxConcurrent", Some(name))
                .or_else(|| existing.and_then(|i| categories[i].max_concurrent));
            let c = CategoryConfig {
                name: name.to_owned(),
                rate: rate_spec,
                max_concurrent,
            };
            match existing {
                Some(i) => categories[i] = c,
                None => categories.push(c),
            }
        }

        let mut retry = RetryConfig {
            max_retries: f
                .u32("retry.maxRetries", None)
                .unwrap_or(d::RETRY_MAX_RETRIES),
            base_delay_ms: f
                .u64("retry.baseDelayMs", None)
                .unwrap_or(d::RETRY_BASE_DELAY_MS),
            max_delay_ms: d::RETRY_MAX_DELAY_MS,
            multiplier: f
                .num("retry.multiplier", None)
                .unwrap_or(d::RETRY_MULTIPLIER),
            jitter: f.num("retry.jitter", None).unwrap_or(d::RETRY_JITTER),
            jitter_kind: match f.str("retry.jitterKind", None) {
                Some("full") => JitterKind::Full,
                Some("decorrelated") => JitterKind::Decorrelated,
                _ => JitterKind::Proportional,
            },
            status_codes: match f.get("retry.statusCodes", None) {
                Some(Value::Arr(items)) => items
                    .iter()
                    .filter_map(Value::as_f64)
                    .map(|n| n as u16)
                    .collect(),
                _ => d::RETRY_STATUS_CODES.to_vec(),
            },
            methods: match f.get("retry.methods", None) {
                Some(Value::Arr(items)) => items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_ascii_uppercase)
                    .collect(),
                _ => d::RETRY_METHODS.iter().map(|m| (*m).to_owned()).collect(),
            },
            max_retry_after_ms: f
                .u64("retry.maxRetryAfterMs", None)
                .unwrap_or(d::RETRY_MAX_RETRY_AFTER_MS),
            budget_ratio: f
                .num("retry.budgetRatio", None)
                .unwrap_or(d::RETRY_BUDGET_RATIO),
            budget_min_per_sec: f
                .u32("retry.budgetMinPerSec", None)
                .unwrap_or(d::RETRY_BUDGET_MIN_PER_SEC),
        };
        // A larger base alone raises the default maximum with it; an explicit maximum must agree.
        retry.max_delay_ms = f
            .u64("retry.maxDelayMs", None)
            .unwrap_or(d::RETRY_MAX_DELAY_MS.max(retry.base_delay_ms));
        if retry.max_delay_ms < retry.base_delay_ms {
            return Err(GuardError::invalid_option(
                "retry.maxDelayMs",
                "must be >= retry.baseDelayMs",
            ));
        }

        let breaker = breaker_spec(
            &f,
            "breaker.",
            None,
            BreakerSpec {
                failure_threshold: d::BREAKER_FAILURE_THRESHOLD,
                reset_timeout_ms: d::BREAKER_RESET_TIMEOUT_MS,
                half_open_probes: d::BREAKER_HALF_OPEN_PROBES,
            },
        );
        let breaker_services = f
            .instances("breaker.services.*")
            .into_iter()
            .map(|s| {
                (
                    s.to_owned(),
                    breaker_spec(&f, "breaker.services.*.", Some(s), breaker),
                )
            })
            .collect();

        let breaker_rate = failure_rate_spec(&f, "breaker.", None, None)?;
        let mut breaker_rate_services = Vec::new();
        for name in f.instances("breaker.services.*") {
            if let Some(spec) =
                failure_rate_spec(&f, "breaker.services.*.", Some(name), breaker_rate)?
            {
                breaker_rate_services.push((name.to_owned(), spec));
            }
        }
        // `adaptive: false` (or absent) is off; `true` or an object turns it on.
        let adaptive = match f.get("adaptive", None) {
            Some(Value::Bool(false)) | None => None,
            Some(_) => Some(AdaptiveSpec {
                k: f.num("adaptive.k", None).unwrap_or(d::ADAPTIVE_K),
                window_ms: f
                    .u64("adaptive.windowMs", None)
                    .unwrap_or(d::ADAPTIVE_WINDOW_MS),
                min_rate: f
                    .num("adaptive.minRate", None)
                    .unwrap_or(d::ADAPTIVE_MIN_RATE),
            }),
        };

        let heap = HeapConfig {
            budget_bytes: f
                .u64("heap.budgetBytes", None)
                .unwrap_or(d::HEAP_BUDGET_BYTES),
            sample_interval_ms: f
                .u64("heap.sampleIntervalMs", None)
                .unwrap_or(d::HEAP_SAMPLE_INTERVAL_MS),
            warning: f.num("heap.warning", None).unwrap_or(d::HEAP_WARNING),
            critical: f.num("heap.critical", None).unwrap_or(d::HEAP_CRITICAL),
            limit: f.num("heap.limit", None).unwrap_or(d::HEAP_LIMIT),
            hysteresis: f.num("heap.hysteresis", None).unwrap_or(d::HEAP_HYSTERESIS),
            randomize: f.bool("heap.randomize").unwrap_or(false),
            long_task_threshold: f
                .u32("heap.longTaskThreshold", None)
                .unwrap_or(d::LONG_TASK_THRESHOLD),
            long_task_window_ms: f
                .u64("heap.longTaskWindowMs", None)
                .unwrap_or(d::LONG_TASK_WINDOW_MS),
        };
        if heap.critical <= heap.warning {
            return Err(GuardError::invalid_option(
                "heap.critical",
                "must be > heap.warning",
            ));
        }
        if heap.limit <= heap.critical {
            return Err(GuardError::invalid_option(
                "heap.limit",
                "must be > heap.critical",
            ));
        }

        let cache = f.get("cache", None).map(|_| CacheConfig {
            max_bytes: f.u64("cache.maxBytes", None).unwrap_or(d::CACHE_MAX_BYTES),
            max_entries: f
                .u32("cache.maxEntries", None)
                .unwrap_or(d::CACHE_MAX_ENTRIES),
            max_stale_ms: f
                .u64("cache.maxStaleMs", None)
                .unwrap_or(d::CACHE_MAX_STALE_MS),
            store_credentialed: f.bool("cache.storeCredentialed").unwrap_or(false),
        });
        let report = f.str("report.endpoint", None).map(|endpoint| ReportConfig {
            endpoint: endpoint.to_owned(),
            allow_cross_origin: f.bool("report.allowCrossOrigin").unwrap_or(false),
            max_per_minute: f
                .u32("report.maxPerMinute", None)
                .unwrap_or(d::REPORT_MAX_PER_MINUTE),
            flush_interval_ms: f
                .u64("report.flushIntervalMs", None)
                .unwrap_or(d::REPORT_FLUSH_INTERVAL_MS),
            keep_url_query: f.bool("report.keepUrlQuery").unwrap_or(false),
        });

        Ok(GuardConfig {
            categories,
            jobs_timeout_ms: f.u64("jobs.timeoutMs", None).unwrap_or(d::JOBS_TIMEOUT_MS),
            queue_max_depth: f.u32("queue.maxDepth", None).unwrap_or(d::QUEUE_MAX_DEPTH),
            queue_timeout_ms: f.u64("queue.timeoutMs", None),
            retry,
            breaker,
            breaker_services,
            breaker_rate,
            breaker_rate_services,
            adaptive,
            heap,
            cache,
            report,
        })
    }
}

/// A rate spec under `prefix` (`rateLimit` or `categories.*` for `instance`); `base.burst == 0`
/// means "as many as requests".
fn rate(
    f: &Fields<'_>,
    prefix: &str,
    instance: Option<&str>,
    base: RateSpec,
) -> Result<RateSpec, GuardError> {
    let key = |k: &str| {
        let mut p = String::from(prefix);
        p.push('.');
        p.push_str(k);
        p
    };
    let requests = f.u32(&key("requests"), instance).unwrap_or(base.requests);
    let per_ms = f.u64(&key("perMs"), instance).unwrap_or(base.per_ms);
    let burst = f
        .u32(&key("burst"), instance)
        .unwrap_or(if base.burst == 0 {
            requests
        } else {
            base.burst.min(requests)
        });
    if burst > requests {
        let mut path = match instance {
            Some(name) => {
                let mut p = String::from("categories.");
                p.push_str(name);
                p
            }
            None => String::from(prefix),
        };
        path.push_str(".burst");
        return Err(GuardError::InvalidOption {
            path,
            reason: "must be <= requests",
        });
    }
    Ok(RateSpec {
        requests,
        per_ms,
        burst,
    })
}

fn breaker_spec(
    f: &Fields<'_>,
    prefix: &str,
    instance: Option<&str>,
    base: BreakerSpec,
) -> BreakerSpec {
    let key = |k: &str| {
        let mut p = String::from(prefix);
        p.push_str(k);
        p
    };
    BreakerSpec {
        failure_threshold: f
            .u32(&key("failureThreshold"), instance)
            .unwrap_or(base.failure_threshold),
        reset_timeout_ms: f
            .u64(&key("resetTimeoutMs"), instance)
            .unwrap_or(base.reset_timeout_ms),
        half_open_probes: f
            .u32(&key("halfOpenProbes"), instance)
            .unwrap_or(base.half_open_probes),
    }
}

/// The failure-rate keys under `prefix` (`breaker.` or `breaker.services.*.` for `instance`),
/// over `base` (the default breaker's mode, inherited by services). `None`: consecutive mode.
fn failure_rate_spec(
    f: &Fields<'_>,
    prefix: &str,
    instance: Option<&str>,
    base: Option<FailureRateSpec>,
) -> Result<Option<FailureRateSpec>, GuardError> {
    let key = |k: &str| {
        let mut p = String::from(prefix);
        p.push_str(k);
        p
    };
    let path = |k: &str| {
        let mut p = match instance {
            Some(name) => {
                let mut p = String::from("breaker.services.");
                p.push_str(name);
                p.push('.');
                p
            }
            None => String::from("breaker."),
        };
        p.push_str(k);
        p
    };
    let threshold = f.num(&key("failureRate"), instance);
    let calls = f.u32(&key("windowCalls"), instance);
    let ms = f.u64(&key("windowMs"), instance);
    let min = f.u32(&key("minimumCalls"), instance);
    if calls.is_some() && ms.is_some() {
        return Err(GuardError::InvalidOption {
            path: path("windowCalls"),
            reason: "cannot be combined with windowMs (count- or time-based, not both)",
        });
    }
    let Some(threshold) = threshold.or(base.map(|b| b.threshold)) else {
        if calls.is_some() || ms.is_some() || min.is_some() {
            return Err(GuardError::InvalidOption {
                path: path("failureRate"),
                reason: "is required with minimumCalls, windowMs or windowCalls",
            });
        }
        return Ok(None);
    };
    let (window_calls, window_ms) = match (calls, ms, base) {
        (Some(c), _, _) => (c, 0),
        (None, Some(m), _) => (0, m),
        (None, None, Some(b)) => (b.window_calls, b.window_ms),
        (None, None, None) => (0, d::BREAKER_WINDOW_MS),
    };
    Ok(Some(FailureRateSpec {
        threshold,
        minimum_calls: min
            .or(base.map(|b| b.minimum_calls))
            .unwrap_or(d::BREAKER_MINIMUM_CALLS),
        window_calls,
        window_ms,
    }))
}

/// Marker the JS driver substitutes for functions, symbols and non-finite numbers, so that a
/// misplaced callback is reported rather than dropped by `JSON.stringify`.
pub const UNSERIALIZABLE_MARKER: &str = "\u{0}unserializable";

/// What an option may hold.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// An object with the keys listed under it.
    Obj,
    /// `false`, `true` or an object with the keys listed under it (`adaptive`).
    ObjOrBool,
    /// An object with free keys (category or service names) whose values match `<path>.*`.
    Map(usize),
    /// An integer in the inclusive range.
    Int(u64, u64),
    /// A number in the inclusive range.
    Num(f64, f64),
    /// A boolean.
    Bool,
    /// A string of 1..=n bytes.
    Str(usize),
    /// An array of HTTP statuses.
    Statuses,
    /// An array of method names.
    Methods,
    /// One of the jitter shapes.
    Jitter,
}

const T: u64 = MAX_TIMER_MS;
const REQ: u64 = MAX_REQUESTS_PER_WINDOW as u64;

/// Every option, by JS path (`*` stands for a category or service name).
static SCHEMA: &[(&str, Kind)] = &[
    ("rateLimit", Kind::Obj),
    ("rateLimit.requests", Kind::Int(1, REQ)),
    ("rateLimit.perMs", Kind::Int(1, T)),
    ("rateLimit.burst", Kind::Int(1, REQ)),
    ("categories", Kind::Map(MAX_CATEGORIES)),
    ("categories.*", Kind::Obj),
    ("categories.*.requests", Kind::Int(1, REQ)),
    ("categories.*.perMs", Kind::Int(1, T)),
    ("categories.*.burst", Kind::Int(1, REQ)),
    ("categories.*.maxConcurrent", Kind::Int(1, 10_000)),
    ("jobs", Kind::Obj),
    ("jobs.maxConcurrent", Kind::Int(1, 10_000)),
    ("jobs.timeoutMs", Kind::Int(1, T)),
    ("queue", Kind::Obj),
    ("queue.maxDepth", Kind::Int(1, MAX_QUEUE_DEPTH as u64)),
    ("queue.timeoutMs", Kind::Int(1, T)),
    ("retry", Kind::Obj),
    ("retry.maxRetries", Kind::Int(0, 20)),
    ("retry.baseDelayMs", Kind::Int(0, T)),
    ("retry.maxDelayMs", Kind::Int(0, T)),
    ("retry.multiplier", Kind::Num(1.0, 10.0)),
    ("retry.jitter", Kind::Num(0.0, 1.0)),
    ("retry.jitterKind", Kind::Jitter),
    ("retry.statusCodes", Kind::Statuses),
    ("retry.methods", Kind::Methods),
    ("retry.maxRetryAfterMs", Kind::Int(0, T)),
    ("retry.budgetRatio", Kind::Num(0.0, 10.0)),
    ("retry.budgetMinPerSec", Kind::Int(0, 1000)),
    ("breaker", Kind::Obj),
    ("breaker.failureThreshold", Kind::Int(1, 1000)),
    ("breaker.resetTimeoutMs", Kind::Int(1, T)),
    ("breaker.halfOpenProbes", Kind::Int(1, 100)),
    ("breaker.failureRate", Kind::Num(0.01, 1.0)),
    ("breaker.minimumCalls", Kind::Int(1, 10_000)),
    ("breaker.windowMs", Kind::Int(1000, T)),
    ("breaker.windowCalls", Kind::Int(1, 10_000)),
    ("breaker.services", Kind::Map(d::MAX_SERVICES)),
    ("breaker.services.*", Kind::Obj),
    ("breaker.services.*.failureThreshold", Kind::Int(1, 1000)),
    ("breaker.services.*.resetTimeoutMs", Kind::Int(1, T)),
    ("breaker.services.*.halfOpenProbes", Kind::Int(1, 100)),
    ("breaker.services.*.failureRate", Kind::Num(0.01, 1.0)),
    ("breaker.services.*.minimumCalls", Kind::Int(1, 10_000)),
    ("breaker.services.*.windowMs", Kind::Int(1000, T)),
    ("breaker.services.*.windowCalls", Kind::Int(1, 10_000)),
    ("adaptive", Kind::ObjOrBool),
    ("adaptive.k", Kind::Num(1.0, 100.0)),
    ("adaptive.windowMs", Kind::Int(1000, T)),
    ("adaptive.minRate", Kind::Num(0.001, 1.0)),
    ("heap", Kind::Obj),
    ("heap.budgetBytes", Kind::Int(1024, 1 << 50)),
    ("heap.sampleIntervalMs", Kind::Int(50, T)),
    ("heap.warning", Kind::Num(0.01, 4.0)),
    ("heap.critical", Kind::Num(0.01, 4.0)),
    ("heap.limit", Kind::Num(0.01, 4.0)),
    ("heap.hysteresis", Kind::Num(0.0, 0.5)),
    ("heap.randomize", Kind::Bool),
    ("heap.longTaskThreshold", Kind::Int(1, 10_000)),
    ("heap.longTaskWindowMs", Kind::Int(100, T)),
    ("cache", Kind::Obj),
    ("cache.maxBytes", Kind::Int(1, 1 << 40)),
    ("cache.maxEntries", Kind::Int(1, 100_000)),
    ("cache.maxStaleMs", Kind::Int(1, 1 << 53)),
    ("cache.storeCredentialed", Kind::Bool),
    ("report", Kind::Obj),
    ("report.endpoint", Kind::Str(2048)),
    ("report.allowCrossOrigin", Kind::Bool),
    ("report.maxPerMinute", Kind::Int(1, 600)),
    ("report.flushIntervalMs", Kind::Int(100, T)),
    ("report.keepUrlQuery", Kind::Bool),
];

/// Checked values: (schema pattern, instance name under a map, value).
struct Fields<'a>(Vec<(&'static str, Option<&'a str>, &'a Value)>);

impl<'a> Fields<'a> {
    fn get(&self, pattern: &str, instance: Option<&str>) -> Option<&'a Value> {
        self.0
            .iter()
            .find(|(p, i, _)| *p == pattern && *i == instance)
            .map(|(_, _, v)| *v)
    }

    fn has_leaf(&self, prefix: &str, key: &str, instance: Option<&str>) -> bool {
        self.0.iter().any(|(p, i, _)| {
            *i == instance
                && p.len() == prefix.len() + key.len()
                && p.starts_with(prefix)
                && p.ends_with(key)
        })
    }

    fn num(&self, pattern: &str, instance: Option<&str>) -> Option<f64> {
        self.get(pattern, instance).and_then(Value::as_f64)
    }

    fn u64(&self, pattern: &str, instance: Option<&str>) -> Option<u64> {
        self.num(pattern, instance).map(|n| n as u64)
    }

    fn u32(&self, pattern: &str, instance: Option<&str>) -> Option<u32> {
        self.num(pattern, instance).map(|n| n as u32)
    }

    fn bool(&self, pattern: &str) -> Option<bool> {
        self.get(pattern, None).and_then(Value::as_bool)
    }

    fn str(&self, pattern: &str, instance: Option<&str>) -> Option<&'a str> {
        self.get(pattern, instance).and_then(Value::as_str)
    }

    /// Names under a map, in the order given.
    fn instances(&self, pattern: &str) -> Vec<&'a str> {
        self.0
            .iter()
            .filter(|(p, _, _)| *p == pattern)
            .filter_map(|(_, i, _)| *i)
            .collect()
    }
}

fn join(a: &str, b: &str) -> String {
    let mut p = String::with_capacity(a.len() + b.len() + 1);
    p.push_str(a);
    if !a.is_empty() {
        p.push('.');
    }
    p.push_str(b);
    p
}

/// Checks every member of an object against [`SCHEMA`], recursing into objects and maps.
/// `path` is the JS path so far, `pattern` the schema path (names replaced by `*`).
fn walk<'a>(
    members: &'a [(String, Value)],
    path: &str,
    pattern: &str,
    instance: Option<&'a str>,
    out: &mut Fields<'a>,
) -> Result<(), GuardError> {
    for (key, value) in members {
        let p = join(path, key);
        let pat_owned = join(pattern, key);
        let Some(&(pat, kind)) = SCHEMA.iter().find(|(s, _)| *s == pat_owned) else {
            return Err(GuardError::InvalidOption {
                path: p,
                reason: "is not a known option",
            });
        };
        if *value == Value::Null {
            continue; // null, like undefined, means "the default"
        }
        if value.as_str() == Some(UNSERIALIZABLE_MARKER) {
            return Err(GuardError::InvalidOption {
                path: p,
                reason: "must be a plain value (not a function, symbol, NaN or Infinity)",
            });
        }
        check(kind, value, &p)?;
        out.0.push((pat, instance, value));
        match (kind, value) {
            (Kind::Obj | Kind::ObjOrBool, Value::Obj(m)) => walk(m, &p, pat, instance, out)?,
            (Kind::Map(max), Value::Obj(m)) => {
                if m.len() > max {
                    return Err(GuardError::InvalidOption {
                        path: p,
                        reason: "has too many entries",
                    });
                }
                let child = join(pat, "*");
                let Some(&(child_pat, _)) = SCHEMA.iter().find(|(s, _)| *s == child) else {
                    continue;
                };
                for (name, v) in m {
                    let np = join(&p, name);
                    if name.is_empty()
                        || name.len() > 2048
                        || (pat == "categories" && name.len() > 64)
                    {
                        return Err(GuardError::InvalidOption {
                            path: np,
                            reason: "must be a name of 1 to 64 characters (services: 2048)",
                        });
                    }
                    let Value::Obj(inner) = v else {
                        return Err(GuardError::InvalidOption {
                            path: np,
                            reason: "must be an object",
                        });
                    };
                    out.0.push((child_pat, Some(name), v));
                    walk(inner, &np, child_pat, Some(name), out)?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Type and range of one value.
fn check(kind: Kind, v: &Value, path: &str) -> Result<(), GuardError> {
    let err = |reason| {
        Err(GuardError::InvalidOption {
            path: path.to_owned(),
            reason,
        })
    };
    let is_int = |n: f64| n == (n as i64) as f64;
    match (kind, v) {
        (Kind::Obj | Kind::Map(_) | Kind::ObjOrBool, Value::Obj(_)) => Ok(()),
        (Kind::ObjOrBool, Value::Bool(_)) => Ok(()),
        (Kind::ObjOrBool, _) => err("must be an object or a boolean"),
        (Kind::Obj | Kind::Map(_), _) => err("must be an object"),
        (Kind::Int(min, max), Value::Num(n)) => {
            if !is_int(*n) {
                err("must be an integer")
            } else if *n < min as f64 {
                err(match min {
                    0 => "must be >= 0",
                    1 => "must be >= 1",
                    _ => "is below its minimum (see the docs)",
                })
            } else if *n > max as f64 {
                err(if max == MAX_TIMER_MS {
                    "must be <= 2147483647 (the longest browser timer)"
                } else {
                    "is above its maximum (see the docs)"
                })
            } else {
                Ok(())
            }
        }
        (Kind::Num(min, max), Value::Num(n)) if *n >= min && *n <= max => Ok(()),
        (Kind::Num(..), Value::Num(_)) => err("is out of range (see the docs)"),
        (Kind::Int(..) | Kind::Num(..), _) => err("must be a number"),
        (Kind::Bool, Value::Bool(_)) => Ok(()),
        (Kind::Bool, _) => err("must be a boolean"),
        (Kind::Str(max), Value::Str(s)) if !s.is_empty() && s.len() <= max => Ok(()),
        (Kind::Str(_), Value::Str(_)) => err("must be a string of 1 to 2048 characters"),
        (Kind::Jitter, Value::Str(s))
            if matches!(s.as_str(), "proportional" | "full" | "decorrelated") =>
        {
            Ok(())
        }
        (Kind::Jitter, _) => err("must be 'proportional', 'full' or 'decorrelated'"),
        (Kind::Str(_), _) => err("must be a string"),
        (Kind::Statuses | Kind::Methods, Value::Arr(items)) => {
            let statuses = matches!(kind, Kind::Statuses);
            if items.len() > if statuses { 100 } else { 32 } {
                return err("has too many items");
            }
            for (i, it) in items.iter().enumerate() {
                let ok = if statuses {
                    it.as_f64()
                        .is_some_and(|n| is_int(n) && (100.0..=599.0).contains(&n))
                } else {
                    it.as_str().is_some_and(|s| {
                        !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_alphabetic())
                    })
                };
                if !ok {
                    let mut p = String::from(path);
                    p.push('[');
                    let mut w = super::json::JsonWriter::new();
                    w.u64(i as u64);
                    p.push_str(&w.out);
                    p.push(']');
                    let reason = if statuses {
                        "must be an HTTP status (100 to 599)"
                    } else {
                        "must be an HTTP method name"
                    };
                    return Err(GuardError::InvalidOption { path: p, reason });
                }
            }
            Ok(())
        }
        (Kind::Statuses | Kind::Methods, _) => err("must be an array"),
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
    fn adaptive_is_off_unless_given_and_validated_by_path() {
        assert_eq!(GuardConfig::from_json("{}").unwrap().adaptive, None);
        assert_eq!(
            GuardConfig::from_json(r#"{"adaptive":false}"#)
                .unwrap()
                .adaptive,
            None
        );
        let on = GuardConfig::from_json(r#"{"adaptive":{}}"#)
            .unwrap()
            .adaptive
            .unwrap();
        assert_eq!((on.k, on.window_ms, on.min_rate), (2.0, 120_000, 0.1));
        let t = GuardConfig::from_json(r#"{"adaptive":true}"#)
            .unwrap()
            .adaptive;
        assert_eq!(t, Some(on));
        let own =
            GuardConfig::from_json(r#"{"adaptive":{"k":1.5,"windowMs":60000,"minRate":0.25}}"#)
                .unwrap()
                .adaptive
                .unwrap();
        assert_eq!((own.k, own.window_ms, own.min_rate), (1.5, 60_000, 0.25));
        assert_eq!(
            err(r#"{"adaptive":{"k":0.5}}"#),
            "invalid option: adaptive.k is out of range (see the docs)"
        );
        assert_eq!(
            err(r#"{"adaptive":{"windowMs":10}}"#),
            "invalid option: adaptive.windowMs is below its minimum (see the docs)"
        );
        assert_eq!(
            err(r#"{"adaptive":{"minRate":0}}"#),
            "invalid option: adaptive.minRate is out of range (see the docs)"
        );
        assert_eq!(
            err(r#"{"adaptive":{"kk":2}}"#),
            "invalid option: adaptive.kk is not a known option"
        );
        assert_eq!(
            err(r#"{"adaptive":1}"#),
            "invalid option: adaptive must be an object or a boolean"
        );
    }

    #[test]
    fn failure_rate_breakers_inherit_per_service() {
        let c = GuardConfig::from_json("{}").unwrap();
        assert_eq!(c.breaker_rate_for("https://a"), None);
        let c = GuardConfig::from_json(
            r#"{"breaker":{"failureRate":0.5,"services":{"https://a":{"windowCalls":50},"https://b":{"failureThreshold":2}}}}"#,
        )
        .unwrap();
        let d = c.breaker_rate_for("https://x").unwrap();
        assert_eq!(
            (d.threshold, d.minimum_calls, d.window_calls, d.window_ms),
            (0.5, 20, 0, 30_000)
        );
        let a = c.breaker_rate_for("https://a").unwrap();
        assert_eq!((a.threshold, a.window_calls, a.window_ms), (0.5, 50, 0));
        assert_eq!(c.breaker_rate_for("https://b"), Some(d));
        // Only one service in rate mode.
        let c = GuardConfig::from_json(
            r#"{"breaker":{"services":{"https://a":{"failureRate":0.3,"minimumCalls":5}}}}"#,
        )
        .unwrap();
        assert_eq!(c.breaker_rate_for("https://b"), None);
        assert_eq!(c.breaker_rate_for("https://a").unwrap().minimum_calls, 5);
        assert_eq!(
            err(r#"{"breaker":{"failureRate":0.5,"windowMs":10000,"windowCalls":10}}"#),
            "invalid option: breaker.windowCalls cannot be combined with windowMs (count- or time-based, not both)"
        );
        assert_eq!(
            err(r#"{"breaker":{"services":{"https://a":{"minimumCalls":5}}}}"#),
            "invalid option: breaker.services.https://a.failureRate is required with minimumCalls, windowMs or windowCalls"
        );
        assert_eq!(
            err(r#"{"breaker":{"failureRate":1.5}}"#),
            "invalid option: breaker.failureRate is out of range (see the docs)"
        );
    }

    #[test]
    fn null_means_default() {
        let c = GuardConfig::from_json(r#"{"retry":{"maxRetries":null},"cache":{}}"#).unwrap();
        assert_eq!(c.retry.max_retries, 3);
        assert_eq!(c.cache.unwrap().max_bytes, 5_242_880);
    }

    // Issue 12: credentialed responses are cached only when the app opts in per guard.
    #[test]
    fn store_credentialed_defaults_off_and_is_checked() {
        let c = GuardConfig::from_json(r#"{"cache":{}}"#).unwrap();
        assert!(!c.cache.unwrap().store_credentialed);
        let c = GuardConfig::from_json(r#"{"cache":{"storeCredentialed":true}}"#).unwrap();
        assert!(c.cache.unwrap().store_credentialed);
        let e = GuardConfig::from_json(r#"{"cache":{"storeCredentialed":"yes"}}"#).unwrap_err();
        assert!(
            matches!(&e, GuardError::InvalidOption { path, .. } if path == "cache.storeCredentialed"),
            "{e:?}"
        );
    }
}

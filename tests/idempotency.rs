//! The idempotency-record helper on a real Postgres: replay, key reuse, and duplicates
//! racing each other.

use std::time::Duration;

use kuajing_platform::ErrorDomain;
use kuajing_platform::idempotency::{self, Begin};
use kuajing_proto::types::Money;
use kuajing_testkit::TestDb;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

const D: ErrorDomain = ErrorDomain("test.kuajing");

fn money(amount: &str) -> Money {
    Money {
        currency_code: "USD".to_owned(),
        amount: amount.to_owned(),
    }
}

async fn pool(db: &TestDb) -> anyhow::Result<PgPool> {
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect_with(db.admin_options())
        .await?;
    sqlx::raw_sql(idempotency::TABLE_SQL).execute(&pool).await?;
    Ok(pool)
}

/// Runs one "effect" under the helper: the response echoes the request with a marker.
async fn run_once(
    pool: &PgPool,
    request_id: &str,
    req: &Money,
    hold: Duration,
) -> Result<(Money, bool), tonic::Status> {
    let mut tx = pool
        .begin()
        .await
        .map_err(kuajing_platform::error::internal)?;
    match idempotency::begin::<Money, Money>(&mut tx, D, "Test", request_id, req).await? {
        Begin::Replay(resp) => Ok((resp, false)),
        Begin::Fresh(key) => {
            let resp = Money {
                currency_code: req.currency_code.clone(),
                amount: format!("{}#", req.amount),
            };
            tokio::time::sleep(hold).await;
            key.complete(&mut tx, &resp).await?;
            tx.commit()
                .await
                .map_err(kuajing_platform::error::internal)?;
            Ok((resp, true))
        }
    }
}

#[tokio::test]
async fn same_request_replays_and_different_request_is_refused() -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let pool = pool(&db).await?;
    let id = uuid::Uuid::now_v7().to_string();

    let (first, fresh) = run_once(&pool, &id, &money("1.00"), Duration::ZERO).await?;
    assert!(fresh);
    let (again, fresh) = run_once(&pool, &id, &money("1.00"), Duration::ZERO).await?;
    assert!(!fresh, "second call must replay");
    assert_eq!(again, first);

    let err = run_once(&pool, &id, &money("2.00"), Duration::ZERO)
        .await
        .expect_err("reuse");
    assert_eq!(err.code(), tonic::Code::AlreadyExists);
    use tonic_types::StatusExt;
    assert_eq!(
        err.get_details_error_info().unwrap().reason,
        "IDEMPOTENCY_KEY_REUSED"
    );

    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM idempotency_records")
        .fetch_one(&pool)
        .await?;
    assert_eq!(rows, 1);
    pool.close().await;
    db.drop_database().await
}

#[tokio::test]
async fn malformed_request_id_is_invalid_argument() -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let pool = pool(&db).await?;
    for bad in ["", "not-a-uuid", "'; DROP TABLE idempotency_records; --"] {
        let err = run_once(&pool, bad, &money("1.00"), Duration::ZERO)
            .await
            .expect_err("bad id");
        assert_eq!(err.code(), tonic::Code::InvalidArgument, "{bad:?}");
    }
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM idempotency_records")
        .fetch_one(&pool)
        .await?;
    assert_eq!(rows, 0, "nothing written for bad input");
    pool.close().await;
    db.drop_database().await
}

#[tokio::test]
async fn concurrent_duplicates_execute_once_and_share_the_answer() -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let pool = pool(&db).await?;
    let id = uuid::Uuid::now_v7().to_string();
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let pool = pool.clone();
        let id = id.clone();
        // The first to claim holds its transaction open a while; the others wait on it.
        tasks.push(tokio::spawn(async move {
            run_once(&pool, &id, &money("5.00"), Duration::from_millis(200)).await
        }));
    }
    let mut executed = 0;
    let mut answers = Vec::new();
    for t in tasks {
        let (resp, fresh) = t.await??;
        executed += usize::from(fresh);
        answers.push(resp);
    }
    assert_eq!(executed, 1, "exactly one executes");
    assert!(
        answers.windows(2).all(|w| w[0] == w[1]),
        "all get the same answer"
    );
    pool.close().await;
    db.drop_database().await
}

#[tokio::test]
async fn a_rolled_back_claim_leaves_the_key_free() -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let pool = pool(&db).await?;
    let id = uuid::Uuid::now_v7().to_string();
    {
        let mut tx = pool.begin().await?;
        let begun =
            idempotency::begin::<Money, Money>(&mut tx, D, "Test", &id, &money("1.00")).await?;
        assert!(matches!(begun, Begin::Fresh(_)));
        tx.rollback().await?;
    }
    let (_, fresh) = run_once(&pool, &id, &money("1.00"), Duration::ZERO).await?;
    assert!(fresh, "the effect runs after a rollback");
    pool.close().await;
    db.drop_database().await
}

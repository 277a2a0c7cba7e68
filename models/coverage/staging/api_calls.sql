{{ config(materialized='incremental', unique_key='call_id') }}
-- Every eligibility API call; later runs only add calls newer than what is loaded.
select
    call_id,
    called_at,
    member_id,
    plan,
    eligibility,
    cast(status_code as {{ dbt.type_int() }}) as status_code,
    latency_ms
from {{ source('coverage_raw', 'api_calls_log') }}
{% if is_incremental() %}
where called_at > (select max(called_at) from {{ this }})
{% endif %}

-- Client B sends registrations with plain names and ISO dates (YYYY-MM-DD).
select
    'client_b' as client,
    registration_id as member_id,
    first_name,
    last_name,
    date_of_birth,
    state_code as state,
    zip_code as zip,
    upper(plan_code) as plan,
    start_date as eligibility_start,
    end_date as eligibility_end
from {{ source('claims_raw', 'client_b_registrations') }}

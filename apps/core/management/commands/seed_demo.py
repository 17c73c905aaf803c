from django.core.management.base import BaseCommand

from apps.core.models import Job
from apps.core.services.demo import (
    demo_content_seed,
    demo_passwords_path,
    demo_passwords_write,
    demo_users_ensure,
)
from apps.core.services.encoder_check import TASK as ENCODER_CHECK
from apps.core.services.encoder_check import encoder_check_start


class Command(BaseCommand):
    help = "Create the demo users (credentials printed once) and each app's demo content."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--reset-passwords", action="store_true",
                            help="Give the demo users new passwords and print them.")
        parser.add_argument("--no-job", action="store_true",
                            help="Do not queue the encoder check job that shows the worker at work.")

    def handle(self, *args, reset_passwords: bool = False, no_job: bool = False, **options) -> None:
        credentials = demo_users_ensure(reset_passwords=reset_passwords)
        if credentials:
            self.stdout.write(self.style.SUCCESS("Demo users (these passwords are shown only now):"))
            for cred in credentials:
                self.stdout.write(f"  {cred.role:<10} username: {cred.username:<10} password: {cred.password}")
            path = demo_passwords_write(credentials)
            self.stdout.write(f"  (also written to {path}, readable only by you: the workers' logs will scroll "
                              "these lines away)")
        else:
            kept = demo_passwords_path()
            self.stdout.write("Demo users exist already (new passwords: seed_demo --reset-passwords)"
                              + (f"; their passwords are in {kept}." if kept.exists() else "."))
        seeded = demo_content_seed(stdout=self.stdout)
        if seeded:
            self.stdout.write(f"Demo content seeded for: {', '.join(seeded)}")
        if not no_job and not Job.objects.filter(kind=ENCODER_CHECK).exists():
            job = encoder_check_start()
            self.stdout.write(f"Queued an encoder check job ({job.pk}); watch it on /jobs/.")

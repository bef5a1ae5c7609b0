import factory

from training.models import BaseModel


class BaseModelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BaseModel
        django_get_or_create = ("key",)

    key = "tiny-llama"
    name = "Tiny random Llama (tests)"
    source_type = "local_folder"
    architecture = "LlamaForCausalLM"
    parameter_count = 100_000
